"""The fast path's frames of one clip: what :func:`impls.model.timeline.frame_rgb` and
:func:`~impls.model.timeline.frame_rgba` give, byte for byte, with less work."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from impls.errors import SourceReadFailed
from impls.model.timeline import frame_rgb, frame_rgba
from impls.moviepy.fastpath.composite import times_255
from impls.moviepy.fastpath.frame import Frame
from impls.moviepy.fastpath.identities import broken_identity
from impls.moviepy.fastpath.plan import Planner

if TYPE_CHECKING:
    from moviepy import VideoClip

Image8 = np.ndarray[Any, np.dtype[np.uint8]]


class FastFrames:
    """Frames of ``clip`` by the fast path; MoviePy's own where the fast path raises.

    The tree is planned once (:mod:`impls.moviepy.fastpath.plan`); a frame the fast path cannot make
    (an error anywhere in it) is made again by MoviePy, whose value or error is then the
    frame's. ``fallbacks`` counts those frames; once they are most of the frames (four at
    least), MoviePy makes every frame after: trying first would only add work. Where this
    process's Pillow breaks an identity the fast path relies on (a worker elsewhere may run
    another build than the process that checked), every frame is MoviePy's. A source reader
    that died (:class:`~impls.errors.SourceReadFailed`) is the render's to handle: it passes.
    """

    def __init__(self, clip: VideoClip) -> None:
        self.clip = clip
        planner = Planner()
        self.root = planner.node(clip)
        self.mask = planner.node(clip.mask) if clip.mask is not None else None
        self.fallbacks = 0
        self.made = 0  # frames asked for
        self._usable = broken_identity() is None

    def _trying(self) -> bool:
        self.made += 1
        if self.fallbacks >= 4 and 2 * self.fallbacks > self.made:
            self._usable = False
        return self._usable

    def reason_unused(self) -> str | None:
        """Why the fast path would not be used for this clip; None when it would."""
        broken = broken_identity()
        if broken is not None:
            return broken
        if not self.root.accelerated:
            kind = type(self.clip).__name__
            return f"nothing in this clip for the fast path to do (a {kind} MoviePy computes)"
        return None

    def key(self, t: Any) -> tuple[Any, ...]:
        """What decides the path of the frame at ``t`` (see :meth:`Node.key`)."""
        out: list[Any] = []
        self.root.key(t, out)
        return tuple(out)

    def rgb(self, t: np.float64) -> Image8:
        """:func:`~impls.model.timeline.frame_rgb` ``(clip, t)``."""
        if not self._trying():
            return frame_rgb(self.clip, t)
        try:
            return _contiguous(self.root.frame(t).astype(np.uint8).rgb())
        except SourceReadFailed:
            raise  # a dead reader: MoviePy's frame would read from it too
        except Exception:
            self.fallbacks += 1
            return frame_rgb(self.clip, t)

    def rgba(self, t: np.float64) -> Image8:
        """:func:`~impls.model.timeline.frame_rgba` ``(clip, t)``."""
        if not self._trying():
            return frame_rgba(self.clip, t)
        try:
            rgb = _contiguous(self.root.frame(t).astype(np.uint8).rgb())
            if self.mask is None:
                alpha = np.full(rgb.shape[:2], 255, dtype=np.uint8)
            else:
                alpha = self.mask.frame(t).map(times_255).astype(np.uint8).array()
            return np.ascontiguousarray(np.dstack([rgb, alpha]))
        except SourceReadFailed:
            raise
        except Exception:
            self.fallbacks += 1
            return frame_rgba(self.clip, t)


def _contiguous(frame: Frame) -> Image8:
    image: Image8 = np.ascontiguousarray(frame.array())
    return image
