"""A moving colour gradient: frames that cost almost nothing to draw.

With drawing nearly free, a render's time is the encoder's plus whatever the renderer adds
around it (processes, pipes, files, joins), so this workload exposes orchestration overhead;
the harness compares every renderer with ffmpeg encoding the same frames from memory
(:mod:`harness.encode_limit`).

Each channel is a ramp along its own direction (red across, green down, blue diagonally) that
wraps around every 256 levels; frame ``i`` adds ``i * step`` to each channel, which moves each
ramp (and its wrap edge) along its direction. A frame is one vectorised uint8 addition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Levels each channel moves per frame (red, green, blue): consecutive frames always differ.
STEP = np.array([3, 2, 1], dtype=np.uint8)


def base_frame(width: int, height: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """Frame 0: two wraps of each ramp across the frame."""
    x = np.arange(width, dtype=np.int64)[None, :]
    y = np.arange(height, dtype=np.int64)[:, None]
    red = np.broadcast_to(x * 512 // width, (height, width))
    green = np.broadcast_to(y * 512 // height, (height, width))
    blue = (x + y) * 512 // (width + height)
    return (np.stack([red, green, blue], axis=-1) % 256).astype(np.uint8)


def draw(index: int, base: np.ndarray[Any, np.dtype[np.uint8]]) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """Frame ``index`` from frame 0 (uint8 arithmetic wraps, which is the point)."""
    height, width = base.shape[:2]
    offset = (STEP.astype(np.int64) * index % 256).astype(np.uint8)
    # Added as one whole row of offsets: broadcasting a 3-vector over the last axis is many
    # times slower, and this workload is about frames that cost nothing.
    row = np.tile(offset, width)
    return (base.reshape(height, width * 3) + row).reshape(height, width, 3)


def make(width: int = 1920, height: int = 1080, fps: float = 30, duration: float = 10.0) -> Any:
    """A silent clip whose frame ``i`` (at ``t = i / fps``) is :func:`draw` ``(i)``."""
    from moviepy import VideoClip

    if width < 2 or height < 2:
        raise ValueError(f"gradient frames need at least 2x2 pixels, got {width}x{height}")
    base = base_frame(width, height)

    def frame_function(t: float) -> np.ndarray[Any, np.dtype[np.uint8]]:
        return draw(int(round(t * fps)), base)

    return VideoClip(frame_function, duration=duration).with_fps(fps)
