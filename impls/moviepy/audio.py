"""The clip's audio track, rendered once for the whole timeline exactly as the baseline does.

Never per chunk: every AAC stream starts with priming samples, so per-chunk audio would put a
gap at each seam. MoviePy's ``write_videofile`` encodes the audio first (44.1 kHz, 4 bytes per
sample, 2000-sample buffers) and then muxes it with ``-c copy``; so do we.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from impls.model.protocol import EncoderSpec

if TYPE_CHECKING:
    from moviepy import VideoClip

#: The rate MoviePy's ``write_videofile`` encodes a clip's audio at (its default ``audio_fps``).
MOVIEPY_AUDIO_RATE = 44100
AUDIO_NBYTES = 4
AUDIO_BUFSIZE = 2000


def audio_extension(codec: str) -> str:
    """The file extension MoviePy gives ``codec``'s audio track, Matroska's where it knows none.

    MoviePy refuses codecs missing from its table (libopus among them) unless given a file
    name; Matroska audio holds any codec, and the track is only muxed on from there.
    """
    from moviepy.tools import find_extension

    try:
        return str(find_extension(codec))
    except ValueError:
        return "mka"


def write_clip_audio(clip: VideoClip, workdir: Path, encoder: EncoderSpec) -> Path | None:
    """Encode ``clip.audio`` into ``workdir``; ``None`` when the clip is silent."""
    if clip.audio is None:
        return None
    from impls.ffmpeg.tools import use_for_moviepy

    use_for_moviepy()
    path = Path(workdir) / f"audio.{audio_extension(encoder.audio_codec)}"
    clip.audio.write_audiofile(
        str(path), MOVIEPY_AUDIO_RATE, AUDIO_NBYTES, AUDIO_BUFSIZE, encoder.audio_codec,
        bitrate=encoder.audio_bitrate, logger=None,
    )  # fmt: skip
    return path
