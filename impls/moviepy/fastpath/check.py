"""The sampled check: which frames a render makes both ways before it trusts the fast path, and
what their comparison says.

Frames are chosen by the path they take, not only by time: every frame gets a key (the layers
playing at each composite, the fades under way, the part of a chain), frames with equal keys
run the same code, and the check takes the middle frame of a run of each of the most complex
keys (transitions first), plus the middle of the longest run (the typical frame), then evenly
spaced frames if it has room left. A slideshow's crossfades are checked that way whatever their
timing.

A render plans its check in the process that built the clip (:func:`frames_to_check`), has its
workers make the frames both ways (:func:`split` among them, at least two frames each) and
turns the fast path on for its frame tasks only when :func:`verdict` says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from moviepy import VideoClip

    from impls.model.timeline import Timeline
    from impls.moviepy.fastpath.evaluator import FastFrames

#: Frames whose keys are computed when choosing: enough for every run longer than 1/2000 of
#: the clip, in a few tens of milliseconds.
_CANDIDATES = 2000


@dataclass(frozen=True)
class Checked:
    """One frame made both ways: ``difference`` says how they differ ("" when equal)."""

    frame: int
    difference: str = ""
    fallback: bool = False  # the fast path raised and MoviePy made the frame

    @property
    def equal(self) -> bool:
        return not self.difference


def frames_to_check(
    clip: VideoClip, timeline: Timeline, samples: int
) -> tuple[tuple[int, ...], str | None]:
    """The frames to check the fast path on, or (nothing, why it is not used for this clip).

    Planning it must not cost the render: an error here turns the fast path off, saying why.
    """
    from impls.moviepy.fastpath.evaluator import FastFrames

    try:
        fast = FastFrames(clip)
        reason = fast.reason_unused()
        if reason is None:
            return tuple(choose_frames(fast, timeline, samples)), None
    except Exception as exc:
        reason = f"planning it failed: {type(exc).__name__}: {exc}"
    return (), reason


def split(frames: Sequence[int], workers: int) -> list[tuple[int, ...]]:
    """``frames`` dealt to at most ``workers`` tasks, two or more each (one task for fewer).

    What the fast path keeps from one frame to the next in a process (an image's conversions)
    is only exercised by a second frame in the same process.
    """
    count = max(1, min(workers, len(frames) // 2))
    return [tuple(frames[k::count]) for k in range(count)]


def choose_frames(fast: FastFrames, timeline: Timeline, count: int) -> list[int]:
    """Up to ``count`` frames to check, sorted."""
    if count < 1:
        return []
    step = max(1, -(-timeline.frames // _CANDIDATES))
    candidates = list(range(0, timeline.frames, step))
    keys = [_key(fast, timeline, i) for i in candidates]
    runs: dict[tuple[Any, ...], tuple[int, int]] = {}  # key -> its longest run (first, last)
    longest = (0, 0)
    first = 0
    for k in range(1, len(candidates) + 1):
        if k < len(candidates) and keys[k] == keys[first]:
            continue
        run = (candidates[first], candidates[k - 1])
        known = runs.get(keys[first])
        if known is None or run[1] - run[0] > known[1] - known[0]:
            runs[keys[first]] = run
        if run[1] - run[0] > longest[1] - longest[0]:
            longest = run
        first = k
    by_weight = sorted(runs.items(), key=lambda item: (-_weight(item[0]), item[1][0]))
    picks = [_middle(run) for _, run in by_weight[: count - 1]]
    if _middle(longest) not in picks:
        picks.append(_middle(longest))
    for index in np.linspace(0, timeline.frames - 1, count).astype(int):
        if len(picks) >= count:
            break
        if int(index) not in picks:
            picks.append(int(index))
    return sorted(picks[:count])


def _key(fast: FastFrames, timeline: Timeline, index: int) -> tuple[Any, ...]:
    try:
        return fast.key(timeline.time(index))
    except Exception:  # a path the key cannot follow: a kind of its own
        return ("unknown",)


def _weight(key: tuple[Any, ...]) -> int:
    """How much a frame of this key exercises: layers playing, fades under way."""
    weight = 0
    for item in key:
        if item[0] == "layers":
            weight += len(item[1])
        elif item == ("fading", True):
            weight += 1
    return weight


def _middle(run: tuple[int, int]) -> int:
    return (run[0] + run[1]) // 2


def difference(expected: np.ndarray[Any, Any], got: np.ndarray[Any, Any]) -> str:
    """How ``got`` differs from ``expected`` in words; "" when they are equal byte for byte."""
    if expected.shape != got.shape or expected.dtype != got.dtype:
        return f"shape {got.shape} {got.dtype}, MoviePy's is {expected.shape} {expected.dtype}"
    unequal = expected != got
    count = int(np.count_nonzero(unequal))
    if not count:
        return ""
    where = tuple(int(v) for v in np.argwhere(unequal)[0])
    return f"{count} values differ, the first at {where}"


def verdict(checked: Sequence[Checked]) -> dict[str, Any]:
    """What a render's ``info["fast_path"]`` says after the check."""
    frames = sorted(c.frame for c in checked)
    fallbacks = sorted(c.frame for c in checked if c.fallback)
    for check in sorted(checked, key=lambda c: c.frame):
        if not check.equal:
            return {
                "enabled": False,
                "reason": f"frame {check.frame} differs from MoviePy's: {check.difference}",
                "checked_frames": frames,
            }
    result: dict[str, Any] = {"enabled": True, "checked_frames": frames}
    if fallbacks:
        result["fallback_frames"] = fallbacks  # made by MoviePy: the fast path raised there
    return result
