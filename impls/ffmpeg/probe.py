"""Facts ffprobe reads from a file: frames, rate, durations, what a lossless join needs."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

from impls.errors import FFmpegError
from impls.ffmpeg.process import run


def audio_duration(path: Path) -> Fraction:
    """Duration of ``path``'s first audio stream (exact when the container states samples)."""
    out = run(
        ["-v", "error", "-select_streams", "a:0",
         "-show_entries", "stream=duration_ts,time_base,duration:format=duration",
         "-of", "json", str(path)],
        f"ffprobe reading the audio duration of {Path(path).name}",
        tool="ffprobe",
    )  # fmt: skip
    data = json.loads(out)
    streams = data.get("streams") or []
    if not streams:
        raise FFmpegError(f"ffprobe reading {Path(path).name}", 0, "no audio stream in the file")
    stream = streams[0]
    if stream.get("duration_ts") is not None and stream.get("time_base"):
        return int(stream["duration_ts"]) * Fraction(stream["time_base"])
    for duration in (stream.get("duration"), (data.get("format") or {}).get("duration")):
        if duration is not None:
            return Fraction(duration)
    raise FFmpegError(f"ffprobe reading {Path(path).name}", 0, "the audio stream has no duration")


def frames_and_rate(path: Path) -> tuple[int, Fraction]:
    """Video frames of ``path`` (counted packets) and its exact frame rate."""
    out = run(
        ["-v", "error", "-select_streams", "v:0", "-count_packets",
         "-show_entries", "stream=nb_read_packets,r_frame_rate", "-of", "json", str(path)],
        f"ffprobe counting frames of {Path(path).name}",
        tool="ffprobe",
    )  # fmt: skip
    streams = json.loads(out).get("streams") or []
    if not streams:
        raise FFmpegError(f"ffprobe reading {Path(path).name}", 0, "no video stream in the file")
    return int(streams[0]["nb_read_packets"]), Fraction(streams[0]["r_frame_rate"])


def video_signature(path: Path) -> tuple[str, ...]:
    """What must be equal for segments to be joined by :func:`concat` without re-encoding.

    The codec's extradata (H.264's SPS/PPS) is compared by hash: an MP4 keeps only the first
    segment's, so a segment encoded with other settings would decode wrongly after a copy.
    """
    out = run(
        ["-v", "error", "-select_streams", "v:0", "-show_data_hash", "sha256",
         "-show_entries", "stream=codec_name,profile,width,height,pix_fmt,r_frame_rate,extradata_hash",
         "-of", "json", str(path)],
        f"ffprobe reading the stream parameters of {Path(path).name}",
        tool="ffprobe",
    )  # fmt: skip
    streams = json.loads(out).get("streams") or [{}]
    keys = ("codec_name", "profile", "width", "height", "pix_fmt", "r_frame_rate", "extradata_hash")
    return tuple(str(streams[0].get(key)) for key in keys)


def stream_duration(path: Path) -> Fraction:
    """Exact duration of ``path``'s first video stream (its ``duration_ts`` in its time base).

    Matroska/WebM store no per-stream duration (only a tag and the container's, both rounded to
    milliseconds): there it is the packet count over the stream's frame rate, exact for the
    constant-rate streams renderbench writes.
    """
    what = f"ffprobe reading the duration of {Path(path).name}"
    out = run(
        ["-v", "error", "-select_streams", "v:0",
         "-show_entries", "stream=duration_ts,time_base,duration", "-of", "json", str(path)],
        what,
        tool="ffprobe",
    )  # fmt: skip
    streams = json.loads(out).get("streams") or []
    if not streams:
        raise FFmpegError(what, 0, "no video stream in the file")
    stream = streams[0]
    if stream.get("duration_ts") is not None and stream.get("time_base"):
        return int(stream["duration_ts"]) * Fraction(stream["time_base"])
    if stream.get("duration") is not None:
        return Fraction(stream["duration"])
    frames, rate = frames_and_rate(path)
    if frames < 1 or rate <= 0:
        raise FFmpegError(what, 0, f"no video stream duration ({frames} packets at {rate} fps)")
    return frames / rate


def count_packets(path: Path) -> int:
    """Video frames in ``path`` by counting packets (no decoding: fast on any length)."""
    out = run(
        ["-v", "error", "-select_streams", "v:0", "-count_packets",
         "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", str(path)],
        f"ffprobe counting frames of {Path(path).name}",
        tool="ffprobe",
    )  # fmt: skip
    return int(out.strip().split(",")[0])
