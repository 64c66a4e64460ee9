"""Facts ffprobe reads from a file: frames, rate, durations, what a lossless join needs."""

from __future__ import annotations

import contextlib
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

from impls.errors import FFmpegError
from impls.ffmpeg.files import cut_short
from impls.ffmpeg.process import run


def _first_stream(path: Path, kind: str, entries: str, *extra: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """ffprobe's ``entries`` of ``path``'s first ``kind`` stream (``v`` or ``a``), and the
    whole answer (for ``format`` entries); :class:`FFmpegError` when there is no such stream."""
    name = Path(path).name
    out = run(
        ["-v", "error", "-select_streams", f"{kind}:0", *extra, "-show_entries", entries,
         "-of", "json", str(path)],
        f"ffprobe reading {name}",
        tool="ffprobe",
    )  # fmt: skip
    data: dict[str, Any] = json.loads(out)
    streams = data.get("streams") or []
    if not streams:
        media = "video" if kind == "v" else "audio"
        raise FFmpegError(f"ffprobe reading {name}", 0, f"no {media} stream in the file")
    return streams[0], data


def _stated_duration(stream: dict[str, Any]) -> Fraction | None:
    """A stream's duration as its container states it, exact where it states samples."""
    if stream.get("duration_ts") is not None and stream.get("time_base"):
        return int(stream["duration_ts"]) * Fraction(stream["time_base"])
    return None if stream.get("duration") is None else Fraction(stream["duration"])


def audio_duration(path: Path) -> Fraction:
    """Duration of ``path``'s first audio stream (exact when the container states samples)."""
    stream, data = _first_stream(path, "a", "stream=duration_ts,time_base,duration:format=duration")
    stated = _stated_duration(stream)
    if stated is None and (data.get("format") or {}).get("duration") is not None:
        stated = Fraction(data["format"]["duration"])
    if stated is None:
        raise FFmpegError(f"ffprobe reading {Path(path).name}", 0, "the audio stream has no duration")
    return stated


def frames_and_rate(path: Path) -> tuple[int, Fraction]:
    """Video frames of ``path`` (counted packets) and its exact frame rate."""
    stream, _ = _first_stream(path, "v", "stream=nb_read_packets,r_frame_rate", "-count_packets")
    return int(stream["nb_read_packets"]), Fraction(stream["r_frame_rate"])


def count_packets(path: Path) -> int:
    """Video frames in ``path`` by counting packets (no decoding: fast on any length).

    A file that cannot be read on a full filesystem raises :class:`~impls.errors.DiskFull`:
    it was written there and cut short (:func:`~impls.ffmpeg.files.cut_short`).
    """
    try:
        stream, _ = _first_stream(path, "v", "stream=nb_read_packets", "-count_packets")
    except FFmpegError as exc:
        full = cut_short(path, f"writing {Path(path).name}", exc.stderr.strip() or str(exc))
        if full is not None:
            raise full from exc
        raise
    if "nb_read_packets" not in stream:  # read, but no packet counted: cut short too
        full = cut_short(path, f"writing {Path(path).name}", "ffprobe counted no video packets")
        if full is not None:
            raise full
    return int(stream["nb_read_packets"])


def video_pix_fmt(path: Path) -> str:
    """The pixel format of ``path``'s first video stream."""
    stream, _ = _first_stream(path, "v", "stream=pix_fmt")
    return str(stream["pix_fmt"])


def video_signature(path: Path) -> tuple[str, ...]:
    """What must be equal for segments to be joined by :func:`concat` without re-encoding.

    The codec's extradata (H.264's SPS/PPS) is compared by hash: an MP4 keeps only the first
    segment's, so a segment encoded with other settings would decode wrongly after a copy.
    """
    keys = ("codec_name", "profile", "width", "height", "pix_fmt", "r_frame_rate", "extradata_hash")
    stream, _ = _first_stream(path, "v", f"stream={','.join(keys)}", "-show_data_hash", "sha256")
    return tuple(str(stream.get(key)) for key in keys)


def stream_duration(path: Path) -> Fraction:
    """Exact duration of ``path``'s first video stream (its ``duration_ts`` in its time base).

    Matroska/WebM store no per-stream duration (only a tag and the container's, both rounded to
    milliseconds): there it is the packet count over the stream's frame rate, exact for the
    constant-rate streams renderbench writes.
    """
    stream, _ = _first_stream(path, "v", "stream=duration_ts,time_base,duration")
    stated = _stated_duration(stream)
    if stated is not None:
        return stated
    frames, rate = frames_and_rate(path)
    if frames < 1 or rate <= 0:
        raise FFmpegError(
            f"ffprobe reading {Path(path).name}", 0,
            f"no video stream duration ({frames} packets at {rate} fps)",
        )  # fmt: skip
    return frames / rate


def video_timing(path: Path) -> tuple[Fraction | None, float | None]:
    """The rate ffmpeg delivers ``path``'s first video stream at when no ``-r`` is given (its
    ``r_frame_rate``, which MoviePy's reader gets) and the stream's own duration as the file's
    index states it; None for what the file does not state."""
    stream, _ = _first_stream(path, "v", "stream=r_frame_rate,duration")
    rate: Fraction | None = None
    duration: float | None = None
    with contextlib.suppress(ValueError, ZeroDivisionError, TypeError, KeyError):
        rate = Fraction(stream["r_frame_rate"])
    with contextlib.suppress(ValueError, TypeError, KeyError):
        duration = float(stream["duration"])
    return (rate if rate is not None and rate > 0 else None), duration


def keyframe_interval(path: Path, packets: int = 2000) -> int | None:
    """The longest run of video packets from one keyframe to the next among ``path``'s first
    ``packets`` (demuxed only, nothing decoded); None when the file says nothing of it.

    A seek decodes from the keyframe before its target: this bounds how many frames that is.
    """
    out = run(
        ["-v", "error", "-select_streams", "v:0", "-read_intervals", f"%+#{packets}",
         "-show_entries", "packet=flags", "-of", "csv=p=0", str(path)],
        f"ffprobe reading the keyframes of {Path(path).name}",
        tool="ffprobe",
    )  # fmt: skip
    flags = [line.strip() for line in out.splitlines() if line.strip()]
    keys = [i for i, flag in enumerate(flags) if "K" in flag]
    if not keys:
        return None
    # The stretch after the last keyframe read counts too: it is at least that long.
    gaps = [b - a for a, b in zip(keys, keys[1:])] + [len(flags) - keys[-1]]
    return max(gaps)
