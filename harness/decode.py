"""Reading outputs back for validation: ffprobe's facts, decoded frames, hashes, PSNR and SSIM."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impls.errors import FFmpegError
from impls.ffmpeg.process import StderrTail, run
from impls.ffmpeg.tools import ffmpeg_binary


def probe(path: Path) -> dict[str, Any]:
    """ffprobe's JSON for the streams and format of ``path``."""
    out = run(
        ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        f"ffprobe {Path(path).name}",
        tool="ffprobe",
    )
    data: dict[str, Any] = json.loads(out)
    return data


@functools.cache
def _codec_names(binary: str) -> dict[str, str]:
    # `ffmpeg -codecs` lines look like
    #   " DEV.LS h264   H.264 / AVC ... (decoders: h264 ...) (encoders: libx264 libx264rgb ...)"
    out = subprocess.run(
        [binary, "-hide_banner", "-codecs"], capture_output=True, text=True, check=False
    ).stdout
    names: dict[str, str] = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 2 or len(fields[0]) != 6 or fields[0][1] != "E":
            continue
        codec = fields[1]
        names.setdefault(codec, codec)  # an encoder named like its codec is listed only so
        _, sep, rest = line.partition("(encoders:")
        if sep:
            for encoder in rest.partition(")")[0].split():
                names[encoder] = codec
    return names


def codec_of_encoder(encoder: str) -> str | None:
    """The codec name ffprobe reports for ``encoder``'s output (libx264 -> h264), if known."""
    return _codec_names(ffmpeg_binary()).get(encoder)


_PASSTHROUGH = ["-fps_mode", "passthrough"]


def framemd5(path: Path) -> list[str]:
    """MD5 of every decoded video frame of ``path``, in order (ffmpeg's framemd5 muxer).

    Frames are hashed in the decoder's own pixel format, so equal lists mean equal pictures.
    """
    out = run(
        ["-loglevel", "error", "-i", str(path), "-map", "0:v:0", *_PASSTHROUGH,
         "-f", "framemd5", "-"],
        f"ffmpeg hashing frames of {Path(path).name}",
    )  # fmt: skip
    # Data lines: "stream, dts, pts, duration, size, md5"; comment lines start with '#'.
    return [
        line.rsplit(",", 1)[1].strip()
        for line in out.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def video_digest(path: Path) -> str:
    """SHA-256 of the first video stream's encoded packets (ffmpeg's hash muxer, no decoding).

    Equal digests mean equal packet data, hence equal decoded frames, whatever the container
    and its timestamps or metadata.
    """
    out = run(
        ["-loglevel", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy",
         "-f", "hash", "-hash", "sha256", "-"],
        f"ffmpeg hashing the video packets of {Path(path).name}",
    )  # fmt: skip
    return out.strip().partition("=")[2]


_PSNR_AVERAGE = re.compile(r"PSNR .*?average:(\S+)")
# The comparison filters pair frames by timestamp. Files in different containers round the same
# frame times differently (Matroska to 1 ms: 0.067 s; MP4 at 1/15360: 0.066992 s), which pairs
# every third frame with its neighbour at 30 fps and costs ~7 dB. Frame i is compared with frame
# i: both streams get the timestamp N in one time base (frame count and rate are checked apart).
_BY_INDEX = "settb=1/1000,setpts=N"


_SSIM_ALL = re.compile(r"SSIM .*?All:(\S+)")


@dataclass(frozen=True)
class Quality:
    """``path``'s frames against a reference's: average PSNR (dB, ``inf`` when identical) and
    SSIM (1.0 when identical), both as ffmpeg's psnr and ssim filters report them."""

    psnr: float
    ssim: float


def compare(path: Path, reference: Path, *, pix_fmt: str | None = None) -> Quality:
    """PSNR and SSIM of ``path``'s frames against ``reference``'s, in one decoding pass.

    The psnr filter passes its main input through unchanged, so the ssim filter gets the same
    decoded frames: each file is decoded once. ``pix_fmt`` converts both to one format first
    (e.g. a 4:2:2 10-bit ProRes output against a yuv420p reference); by default ffmpeg
    negotiates one. PSNR is ffmpeg's ``average`` (from the mean squared error over all frames
    and planes), SSIM its ``All``. Both videos must have the same frame size.
    """
    convert = f"format={pix_fmt}," if pix_fmt else ""
    graph = (
        f"[0:v:0]{convert}{_BY_INDEX}[main];[1:v:0]{convert}{_BY_INDEX},split[ref0][ref1];"
        "[main][ref0]psnr[checked];[checked][ref1]ssim"
    )
    what = f"ffmpeg comparing {Path(path).name} with {Path(reference).name} (psnr, ssim)"
    stderr = run(
        ["-loglevel", "info", "-nostats", "-i", str(path), "-i", str(reference),
         "-lavfi", graph, "-f", "null", "-"],
        what,
        output="stderr",
    )  # fmt: skip
    psnr_found, ssim_found = _PSNR_AVERAGE.findall(stderr), _SSIM_ALL.findall(stderr)
    if not psnr_found or not ssim_found:
        raise FFmpegError(what, 0, "no PSNR/SSIM summary in ffmpeg's output\n" + stderr)
    return Quality(psnr=float(psnr_found[-1]), ssim=float(ssim_found[-1]))


def iter_rgb_frames(path: Path, width: int, height: int) -> Generator[bytes, None, None]:
    """Decode ``path``'s video to packed rgb24 frames; ``width``/``height``: its size (probe).

    Streams one frame at a time (a full-size video does not fit in memory). Closing the
    iterator early stops ffmpeg; a decoding failure raises :class:`FFmpegError`.
    """
    size = width * height * 3
    cmd = [
        ffmpeg_binary(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
        "-i", str(path), "-map", "0:v:0", *_PASSTHROUGH,
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    stderr = StderrTail(proc.stderr)
    finished = False
    try:
        while True:
            frame = proc.stdout.read(size)
            if len(frame) < size:
                break
            yield frame
        finished = True
    finally:
        if not finished and proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        code = proc.wait()
        tail = stderr.text(timeout=1.0)
    if code != 0:
        raise FFmpegError(f"ffmpeg decoding {Path(path).name}", code, tail)
    if frame:
        raise FFmpegError(
            f"ffmpeg decoding {Path(path).name}", code,
            f"stream ended inside a frame ({len(frame)} of {size} bytes)",
        )  # fmt: skip
