"""Media files the tests read, made by ffmpeg on the spot (never downloaded)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from impls.ffmpeg.tools import ffmpeg_binary


def make_video(path: Path, size: str, seconds: float) -> Path:
    """``path``: H.264 video of ffmpeg's moving test pattern with a 440 Hz tone, 30 fps."""
    subprocess.run(
        [
            ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
            "-shortest", str(path),
        ],  # fmt: skip
        check=True,
    )
    return path
