"""Frames that carry their own index, readable back after lossy H.264.

The index is written as 16 bits in a 4x4 grid of large black/white cells (plus a fixed
white/black reference row), big enough to survive any sane encode, so a decoded frame says
which frame it is: dropped, duplicated or swapped frames show up exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BITS = 16
GRID = 4  # 4 x 4 cells = 16 bits


def _cells(width: int, height: int) -> tuple[int, int, int]:
    # Rows: 1 reference row + GRID data rows.
    cell_h = height // (GRID + 1)
    cell_w = width // GRID
    return cell_w, cell_h, cell_h


def draw(index: int, width: int, height: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    if not 0 <= index < 2**BITS:
        raise ValueError(f"index {index} does not fit in {BITS} bits")
    cell_w, cell_h, top = _cells(width, height)
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    # Reference row: left half white, right half black (checks orientation and levels).
    frame[:top, : width // 2] = 255
    for bit in range(BITS):
        if index >> bit & 1:
            row, col = divmod(bit, GRID)
            y0 = top + row * cell_h
            x0 = col * cell_w
            frame[y0 : y0 + cell_h, x0 : x0 + cell_w] = 255
    # A thin moving gradient stripe so consecutive frames are never identical bytes.
    frame[-2:, :, 1] = (np.arange(width) + index) % 256
    return frame


def decode(frame: np.ndarray[Any, Any]) -> int:
    """The index a decoded frame carries (samples each cell's centre region)."""
    height, width = frame.shape[:2]
    cell_w, cell_h, top = _cells(width, height)
    gray = frame[..., :3].mean(axis=-1)
    index = 0
    for bit in range(BITS):
        row, col = divmod(bit, GRID)
        cy = top + row * cell_h + cell_h // 2
        cx = col * cell_w + cell_w // 2
        patch = gray[cy - cell_h // 4 : cy + cell_h // 4 + 1, cx - cell_w // 4 : cx + cell_w // 4 + 1]
        if patch.mean() > 127:
            index |= 1 << bit
    return index


def make(
    width: int = 320, height: int = 240, fps: float = 30, duration: float = 2.0, audio: bool = False
) -> Any:
    """A clip whose frame ``i`` (at ``t = i / fps``) shows ``i``."""
    from moviepy import AudioClip, VideoClip

    def frame_function(t: float) -> np.ndarray[Any, np.dtype[np.uint8]]:
        return draw(int(round(t * fps)), width, height)

    clip = VideoClip(frame_function, duration=duration).with_fps(fps)
    if audio:
        clip = clip.with_audio(
            AudioClip(lambda t: 0.2 * np.sin(2 * np.pi * 440 * np.asarray(t)), duration=duration, fps=44100)
        )
    return clip
