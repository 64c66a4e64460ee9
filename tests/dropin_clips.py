"""Clips built the way a MoviePy user builds them (in the caller, no factory), and MoviePy's
own ``write_videofile`` of them: the references the clip-object renders must equal."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

from harness.decode import framemd5
from impls import EncoderSpec
from impls.ffmpeg.tools import ffmpeg_binary, use_for_moviepy
from tests.media import audio_md5

#: The lossless MoviePy call every reference uses (MoviePy's own defaults otherwise).
LOSSLESS_PARAMS = ["-crf", "0"]

#: Lossless, with MoviePy's own default audio codec for .mp4, so that audio compares too.
LOSSLESS_MP3 = dataclasses.replace(EncoderSpec.lossless(), audio_codec="libmp3lame")


def make_wav(path: Path, seconds: float, frequency: int = 660) -> Path:
    """A stereo 44.1 kHz WAV of a tone, made by ffmpeg."""
    subprocess.run(
        [
            ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"sine=frequency={frequency}:duration={seconds}:sample_rate=44100",
            "-ac", "2", str(path),
        ],  # fmt: skip
        check=True,
    )
    return path


def edit(video: Path, audio: Path | None = None) -> Any:
    """Cut, resize and overlay a video file: two cuts joined, a picture-in-picture of the
    source, 160x90; the audio from ``audio`` (a file) when given, else the cuts' own."""
    from moviepy import AudioFileClip, CompositeVideoClip, VideoFileClip, concatenate_videoclips

    # Readers started now must use the ffmpeg the renderers and the references use: two ffmpeg
    # builds decode AAC to slightly different samples.
    use_for_moviepy()
    source = VideoFileClip(str(video))
    first = source.subclipped(0.2, 1.0).resized((160, 90))
    second = source.subclipped(1.5, 2.2).resized((160, 90))
    joined = concatenate_videoclips([first, second])
    inset = source.subclipped(0.0, joined.duration).resized(0.25).with_position((8, 6))
    clip = CompositeVideoClip([joined, inset], size=(160, 90)).with_fps(30)
    if audio is not None:
        clip = clip.with_audio(AudioFileClip(str(audio)).subclipped(0, clip.duration))
    return clip


def moviepy_reference(clip: Any, output: Path, **kwargs: Any) -> Path:
    """MoviePy's own ``write_videofile`` of ``clip``, lossless, with renderbench's ffmpeg (the
    one the renderers use: another ffmpeg build converts RGB to YUV slightly differently)."""
    use_for_moviepy()
    arguments: dict[str, Any] = {"codec": "libx264", "ffmpeg_params": LOSSLESS_PARAMS, "logger": None}
    arguments.update(kwargs)
    clip.write_videofile(str(output), **arguments)
    return output


def assert_same(output: Path, reference: Path, audio: bool = True) -> None:
    """``output`` decodes to ``reference``'s frames (and audio)."""
    assert framemd5(output) == framemd5(reference)
    if audio:
        assert audio_md5(output) == audio_md5(reference)
