"""The ffmpeg and ffprobe binaries every renderer uses, and what this ffmpeg can encode.

One binary for every renderer, the baseline included: different ffmpeg builds convert RGB to
YUV differently (decoded frames differ by 1-2 levels), so MoviePy is pointed at the same
binary (:func:`use_for_moviepy`). Whether an encoder or a container works is asked of ffmpeg
itself with one tiny encode, cached for the life of the process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from impls.errors import EncoderUnavailable, InvalidJob, ToolNotFound
from impls.ffmpeg.command import encoder_args
from impls.ffmpeg.files import check_output_path
from impls.model.protocol import EncoderSpec


_INSTALL_HINT = "install it (Debian/Ubuntu: apt-get install ffmpeg) or set {var} to its path"


def _locate(tool: str, env_var: str) -> str:
    explicit = os.environ.get(env_var)
    if explicit:
        if shutil.which(explicit):
            return str(shutil.which(explicit))
        raise ToolNotFound(tool, f"{env_var}={explicit!r} is not an executable")
    found = shutil.which(tool)
    if found is None:
        raise ToolNotFound(tool, _INSTALL_HINT.format(var=env_var))
    return found


def ffmpeg_binary() -> str:
    """Path of the ffmpeg every renderer uses ($RENDERBENCH_FFMPEG, else ffmpeg on PATH)."""
    return _locate("ffmpeg", "RENDERBENCH_FFMPEG")


def ffprobe_binary() -> str:
    """Path of ffprobe ($RENDERBENCH_FFPROBE, else ffprobe on PATH)."""
    return _locate("ffprobe", "RENDERBENCH_FFPROBE")


def check_tools() -> None:
    """Raise :class:`ToolNotFound` naming the missing binary before any work starts."""
    ffmpeg_binary()
    ffprobe_binary()


def check_ready(output: Path, encoder: EncoderSpec) -> None:
    """What every render checks before anything starts: both tools, the output's place, the
    encoder."""
    check_tools()
    check_output_path(output)
    check_encoder(encoder)


@functools.cache
def _version_of(binary: str) -> str:
    out = subprocess.run(
        [binary, "-hide_banner", "-version"], capture_output=True, text=True, check=False
    ).stdout
    first = out.splitlines()[0] if out else ""
    # "ffmpeg version 5.1.9-0+deb12u1 Copyright ..." -> "5.1.9-0+deb12u1"
    parts = first.split()
    return parts[2] if len(parts) > 2 and parts[1] == "version" else first


def ffmpeg_version() -> str:
    return _version_of(ffmpeg_binary())


def use_for_moviepy() -> str:
    """Make MoviePy (already imported or not) call our ffmpeg; returns its path.

    MoviePy reads ``FFMPEG_BINARY`` at import time into several modules' globals, so both
    the environment (for later imports and child processes) and loaded modules are updated.
    """
    binary = ffmpeg_binary()
    os.environ["FFMPEG_BINARY"] = binary
    for name, module in list(sys.modules.items()):
        if name.startswith("moviepy") and hasattr(module, "FFMPEG_BINARY"):
            setattr(module, "FFMPEG_BINARY", binary)
    return binary


@functools.cache
def _encoder_names(binary: str) -> frozenset[str]:
    out = subprocess.run(
        [binary, "-hide_banner", "-encoders"], capture_output=True, text=True, check=False
    ).stdout
    names: set[str] = set()
    started = False
    for line in out.splitlines():
        if line.strip().startswith("------"):
            started = True
            continue
        fields = line.split()
        if started and len(fields) >= 2 and fields[0].startswith("V"):
            names.add(fields[1])
    return frozenset(names)


def video_encoders() -> frozenset[str]:
    """Video encoders this ffmpeg lists (listing is not working: see :func:`check_encoder`)."""
    return _encoder_names(ffmpeg_binary())


#: Answers of the one-frame probes below, for the life of the process.
_probe_errors: dict[tuple[str, ...], str | None] = {}


def _probe_error(cmd: list[str], suffix: str | None = None) -> str | None:
    """Run a short probe command, cached; None when it succeeds, else ffmpeg's first error line.

    With ``suffix`` the command's last argument is a scratch file of that suffix (which picks
    the muxer), in a folder that exists only while the probe runs.
    """
    key = (*cmd, suffix or "")
    if key in _probe_errors:
        return _probe_errors[key]
    with contextlib.ExitStack() as stack:
        full = cmd
        if suffix is not None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="renderbench-probe-"))
            full = [*cmd, str(Path(folder) / f"probe{suffix}")]
        proc = subprocess.run(full, capture_output=True, text=True, errors="replace", check=False)
    if proc.returncode == 0:
        error = None
    else:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        error = lines[0] if lines else f"exit status {proc.returncode}"
    if proc.returncode >= 0:
        # A probe killed by a signal (the OOM killer, a stray kill) says nothing about the
        # encoder or container, so it is asked again next time.
        _probe_errors[key] = error
    return error


def _encoder_error(binary: str, spec: EncoderSpec) -> str | None:
    # Listed is not working: h264_nvenc is listed everywhere and fails without a GPU driver.
    # One 64x64 frame through the real arguments finds that, and bad presets, cheaply.
    return _probe_error([
        binary, "-hide_banner", "-nostdin", "-loglevel", "error",
        "-f", "lavfi", "-i", "color=c=gray:s=64x64:r=1:d=1",
        "-frames:v", "1", *encoder_args(spec), "-f", "null", "-",
    ])  # fmt: skip


def check_encoder(spec: EncoderSpec) -> None:
    """Raise :class:`EncoderUnavailable` unless this ffmpeg can really encode with ``spec``."""
    binary = ffmpeg_binary()
    available = sorted(_encoder_names(binary))
    if spec.codec not in available:
        raise EncoderUnavailable(spec.codec, available)
    error = _encoder_error(binary, spec)
    if error is not None:
        raise EncoderUnavailable(spec.codec, available, reason=error)


def check_container(spec: EncoderSpec, output: Path, *, audio_rate: int | None) -> None:
    """Raise :class:`InvalidJob` unless ``spec``'s streams can be written into ``output``.

    Without this, WebM with the default AAC audio (or MP4 with a codec MP4 lacks, or Opus at
    44.1 kHz) is found out only by the final mux or audio encode, after the whole render. One
    64x64 frame, and 0.1 s of silence at ``audio_rate`` Hz (``None``: no audio track), written
    into a scratch file of the same suffix asks the encoders and the muxer themselves.
    """
    suffix = Path(output).suffix.lower()
    audio = audio_rate is not None
    sound = ["-f", "lavfi", "-i", f"anullsrc=r={audio_rate}:cl=stereo"] if audio else []
    sound_out = ["-c:a", spec.audio_codec, "-ar", str(audio_rate), "-t", "0.1"] if audio else []
    error = _probe_error([
        ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", "color=c=gray:s=64x64:r=10:d=0.1", *sound,
        "-frames:v", "1", *encoder_args(spec), *sound_out,
    ], suffix)  # fmt: skip
    if error is not None:
        streams = f"{spec.codec} video" + (f" with {spec.audio_codec} audio at {audio_rate} Hz" if audio else "")
        raise InvalidJob(
            f"cannot write {streams} into a {suffix} file (ffmpeg: {error}); choose another "
            "output suffix or encoder" + (" or audio codec" if audio else "")
        )
