"""Media files the tests read, made by ffmpeg on the spot (never downloaded)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from impls.ffmpeg.tools import ffmpeg_binary


def make_video(
    path: Path,
    size: str,
    seconds: float,
    *,
    audio: bool = True,
    audio_seconds: float | None = None,
    faststart: bool = False,
    variable_rate: bool = False,
) -> Path:
    """``path``: H.264 video of ffmpeg's moving test pattern with a 440 Hz tone, 30 fps.

    ``audio_seconds``: a tone of another length than the picture (the file then lasts as long
    as the longer). ``faststart``: the index at the start of the file (as for streaming), so a
    file cut short still opens. ``variable_rate``: the frames' timestamps spread out further and
    further (a variable frame rate: the average rate is below the stream's 30 fps).
    """
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30:duration={seconds}"]
    if audio:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={audio_seconds or seconds}"]
    options = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p"]
    if audio:
        options += ["-c:a", "aac"]
    if variable_rate:
        options += ["-vf", "setpts='(N+0.002*N*N)/30/TB'", "-fps_mode", "vfr"]
    if audio and audio_seconds is None:
        options += ["-shortest"]
    if faststart:
        options += ["-movflags", "+faststart"]
    subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", *inputs, *options, str(path)],
        check=True,
    )
    return path


def cut_short(path: Path, output: Path, keep: float) -> Path:
    """``output``: the first ``keep`` (a fraction) of ``path``'s bytes, as an interrupted copy."""
    data = path.read_bytes()
    output.write_bytes(data[: int(len(data) * keep)])
    return output


def audio_md5(path: Path) -> str:
    """MD5 of the first audio stream, decoded."""
    out = subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-i", str(path),
         "-map", "0:a:0", "-f", "md5", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()
