"""A worker-side fast path for MoviePy frames: the same bytes, less work.

MoviePy's frame of a typical edit spends most of its time on work the output cannot show:
uint8 copies of arrays that are uint8 already, conversions between NumPy and PIL and back,
alpha-compositing layers that are opaque, full-size constant images (backgrounds, masks of
ones) and the arithmetic on them, backgrounds that are overdrawn. The fast path evaluates the
clip's tree itself (:mod:`~impls.moviepy.fastpath.plan` decides what each clip is), doing
MoviePy's arithmetic with MoviePy's own objects where a value can change and skipping the
rest; what it does not know, MoviePy computes. Exactness rests on stated identities of
Pillow's formulas, checked on the running Pillow (:mod:`~impls.moviepy.fastpath.identities`),
and every render checks it on sampled frames before trusting it
(:mod:`~impls.moviepy.fastpath.check`).

The interface, all the rest of renderbench uses (the workers in :mod:`impls.moviepy.worker`,
the render's check in :mod:`impls.moviepy.shell`):

- :class:`FastFrames` ``(clip)``: ``rgb(t)`` / ``rgba(t)`` as
  :func:`impls.model.timeline.frame_rgb` / :func:`~impls.model.timeline.frame_rgba`;
  ``reason_unused()`` says why it would not help;
- :func:`frames_to_check`, :func:`split`, :func:`difference`, :class:`Checked`,
  :func:`verdict` (and :func:`choose_frames`): the check.
"""

from __future__ import annotations

from impls.moviepy.fastpath.check import (
    Checked,
    choose_frames,
    difference,
    frames_to_check,
    split,
    verdict,
)
from impls.moviepy.fastpath.evaluator import FastFrames

__all__ = [
    "Checked",
    "FastFrames",
    "choose_frames",
    "difference",
    "frames_to_check",
    "split",
    "verdict",
]
