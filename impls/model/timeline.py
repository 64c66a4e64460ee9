"""The one place that turns frame indices into times, exactly as MoviePy does.

MoviePy's ``iter_frames`` renders ``int(duration * fps)`` frames (truncating) at
``t = np.arange(n)[i] / fps``: a NumPy float64, not a Python float. Under NumPy 2's scalar
promotion the two give different pixels wherever a clip computes in float32, so every renderer
takes its times from here and writes exactly the frames the baseline writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from impls.errors import InvalidJob, InvalidSource
from impls.model.protocol import RenderResult, exact_fps

if TYPE_CHECKING:
    from moviepy import VideoClip


@dataclass(frozen=True)
class Timeline:
    """Frame count and times of one render.

    ``clock_fps`` is the number MoviePy divides by (the clip's fps as given, as a float);
    ``rate`` is the exact frame rate handed to ffmpeg (29.97 becomes 30000/1001).
    """

    duration: float
    clock_fps: float
    rate: Fraction
    frames: int

    @classmethod
    def of(cls, duration: float, fps: float | int | Fraction) -> Timeline:
        rate = exact_fps(fps)  # validates: finite, > 0
        clock = float(fps)
        frames = int(duration * clock)
        if frames < 1:
            raise InvalidSource(
                f"duration {duration}s at {clock:g} fps gives no frame (int(duration * fps) == 0)"
            )
        return cls(duration=float(duration), clock_fps=clock, rate=rate, frames=frames)

    @classmethod
    def for_clip(cls, clip: VideoClip, fps: float | int | Fraction | None = None) -> Timeline:
        """The timeline MoviePy's ``write_videofile(fps=fps)`` would use for ``clip``."""
        chosen: Any = fps if fps is not None else getattr(clip, "fps", None)
        if chosen is None:
            raise InvalidJob("the clip has no fps: set clip.fps or give the job an fps")
        return cls.of(clip.duration, chosen)

    def time(self, index: int) -> np.float64:
        """Time of frame ``index``: ``np.int64(index) / fps`` as in ``iter_frames``."""
        if not 0 <= index < self.frames:
            raise IndexError(f"frame {index} outside 0..{self.frames - 1}")
        return np.int64(index) / np.float64(self.clock_fps)

    @property
    def video_duration(self) -> float:
        """Duration of the written stream: frames / rate."""
        return float(Fraction(self.frames) / self.rate)

    def result(self, output: Path, renderer: str, started: float, **more: Any) -> RenderResult:
        """What a render of this timeline wrote; ``started``: its ``time.perf_counter()``."""
        wall = time.perf_counter() - started
        return RenderResult(
            Path(output), renderer, self.frames, self.video_duration, self.rate, wall, **more
        )

    def split(self, parts: int) -> list[range]:
        """Contiguous frame ranges, as equal as possible, covering every frame once."""
        parts = max(1, min(parts, self.frames))
        base, extra = divmod(self.frames, parts)
        ranges: list[range] = []
        start = 0
        for k in range(parts):
            stop = start + base + (1 if k < extra else 0)
            ranges.append(range(start, stop))
            start = stop
        return ranges


def frame_rgb(clip: VideoClip, t: np.float64) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The RGB frame MoviePy writes at ``t``, as contiguous HxWx3 uint8.

    Same conversion as ``iter_frames(dtype="uint8")``. The clip's top-level mask is not
    computed: an encoder without alpha throws it away (``write_videofile`` computes it anyway).
    """
    frame = clip.get_frame(t)
    if frame.dtype != np.uint8:
        frame = frame.astype("uint8")
    if frame.ndim == 3 and frame.shape[2] == 4:
        frame = frame[:, :, :3]
    return np.ascontiguousarray(frame)


def frame_rgba(clip: VideoClip, t: np.float64) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """RGB plus the clip's mask as alpha, as ``write_videofile`` builds it for a masked clip."""
    rgb = frame_rgb(clip, t)
    if clip.mask is None:
        alpha = np.full(rgb.shape[:2], 255, dtype=np.uint8)
    else:
        mask = 255 * clip.mask.get_frame(t)
        alpha = mask if mask.dtype == np.uint8 else mask.astype("uint8")
    return np.ascontiguousarray(np.dstack([rgb, alpha]))
