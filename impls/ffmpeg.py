"""The only module that builds and runs ffmpeg and ffprobe.

One binary for every renderer, the baseline included: different ffmpeg builds convert RGB to
YUV differently (decoded frames differ by 1-2 levels), so MoviePy is pointed at the same
binary (:func:`use_for_moviepy`). stderr is always captured (drained by a thread for
long-running writers, so a chatty ffmpeg never blocks); failures raise :class:`FFmpegError`
carrying the exit status and the tail of ffmpeg's own message.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

from impls import lifeline
from impls.errors import EncoderUnavailable, FFmpegError, InvalidJob, ToolNotFound
from impls.protocol import EncoderSpec

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


# ---------------------------------------------------------------------------------------------
# Running


def run(
    args: Sequence[str],
    what: str,
    *,
    tool: str = "ffmpeg",
    timeout: float | None = None,
    tied: bool = False,
) -> str:
    """Run ffmpeg (or ffprobe) with ``args``; return stdout; raise FFmpegError on failure.

    ``tied=True`` for long runs that read no pipe from us (encodes of files): the process is
    killed when this one dies, even by SIGKILL (:mod:`impls.lifeline`; ~20 ms to start).
    Short runs (probes, ``-c copy``) end by themselves within seconds; a
    :class:`FrameWriter`'s ffmpeg ends at the EOF on its stdin.
    """
    return run_capture(args, what, tool=tool, timeout=timeout, tied=tied).stdout


def run_capture(
    args: Sequence[str],
    what: str,
    *,
    tool: str = "ffmpeg",
    timeout: float | None = None,
    tied: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Like :func:`run`, but return stdout and stderr (some filters report on stderr only)."""
    binary = ffmpeg_binary() if tool == "ffmpeg" else ffprobe_binary()
    cmd = [binary, "-hide_banner", "-nostdin", *args] if tool == "ffmpeg" else [binary, *args]
    if tied:
        cmd = lifeline.tied(cmd)
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
            process_group=0,  # not the terminal's: a Ctrl-C is for this process to handle
        )
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        raise FFmpegError(f"{what} (timed out after {timeout}s)", None, stderr) from exc
    if proc.returncode != 0:
        raise FFmpegError(what, proc.returncode, proc.stderr)
    return proc


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


def encoder_args(spec: EncoderSpec) -> list[str]:
    """Output arguments for ``spec`` (identical for a whole file and for every chunk)."""
    args = ["-c:v", spec.codec]
    if spec.preset is not None:
        args += ["-preset", spec.preset]
    if spec.crf is not None:
        args += ["-crf", str(spec.crf)]
    if spec.bitrate is not None:
        args += ["-b:v", spec.bitrate]
    args += ["-pix_fmt", spec.pix_fmt]
    if spec.threads is not None:
        args += ["-threads", str(spec.threads)]
    args += list(spec.extra)
    return args


def rate_arg(rate: Fraction) -> str:
    """An exact ``-r`` value: 30000/1001 stays 30000/1001 (MoviePy writes 29.97)."""
    return f"{rate.numerator}/{rate.denominator}"


# ---------------------------------------------------------------------------------------------
# Writing


class _StderrTail:
    """Drains a pipe on a thread (so ffmpeg never blocks on a full pipe), keeping the tail."""

    def __init__(self, stream: IO[bytes], lines: int = 200) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=lines)
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[bytes]) -> None:
        with contextlib.suppress(ValueError, OSError):
            for raw in iter(stream.readline, b""):
                self._lines.append(raw.decode(errors="replace").rstrip())
        with contextlib.suppress(OSError):
            stream.close()

    def text(self, timeout: float = 5.0) -> str:
        self._thread.join(timeout)
        return "\n".join(self._lines)


@dataclass(frozen=True)
class RawFormat:
    """What is written on stdin: frame size, pixel layout and exact rate."""

    width: int
    height: int
    rate: Fraction
    pix_fmt: str = "rgb24"  # rgb24, or rgba when the encoder keeps alpha

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * (4 if self.pix_fmt == "rgba" else 3)

    def input_args(self) -> list[str]:
        return [
            "-f", "rawvideo", "-pix_fmt", self.pix_fmt,
            "-s", f"{self.width}x{self.height}", "-r", rate_arg(self.rate), "-i", "-",
        ]  # fmt: skip


@dataclass(frozen=True)
class PipedImages:
    """Encoded images (e.g. JPEG) written one after another on stdin, at an exact rate."""

    rate: Fraction
    codec: str = "mjpeg"  # the decoder ffmpeg reads them with

    def input_args(self) -> list[str]:
        return [
            "-f", "image2pipe", "-c:v", self.codec, "-framerate", rate_arg(self.rate), "-i", "-",
        ]  # fmt: skip


class FrameWriter:
    """One ffmpeg process encoding raw frames written to its stdin into ``output``.

    Use as a context manager: leaving normally closes stdin and checks ffmpeg's exit status
    (raising :class:`FFmpegError`); leaving with an exception kills ffmpeg.
    """

    def __init__(
        self,
        output: Path,
        fmt: RawFormat | PipedImages,
        encoder: EncoderSpec,
        extra_output_args: Sequence[str] = (),
    ) -> None:
        self.output = Path(output)
        self.fmt = fmt
        self.frames_written = 0
        cmd = [
            ffmpeg_binary(), "-hide_banner", "-nostats", "-loglevel", "error", "-y",
            *fmt.input_args(), "-an", *encoder_args(encoder), *extra_output_args, str(self.output),
        ]  # fmt: skip
        self.command = cmd
        # Its own process group: a terminal's Ctrl-C goes to this process, which decides what
        # it means (ffmpeg would otherwise die at once, and the render report an ffmpeg error).
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            process_group=0,
        )
        assert self._proc.stderr is not None
        self._stderr = _StderrTail(self._proc.stderr)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def write(self, frame: Any) -> None:
        """Write one frame (bytes, memoryview or a C-contiguous uint8 array)."""
        stdin = self._proc.stdin
        assert stdin is not None
        # Released on the way out, error or not: a traceback kept by the caller would otherwise
        # keep the frame's buffer exported (a shared-memory block could not be closed).
        with memoryview(frame).cast("B") as view:
            if isinstance(self.fmt, RawFormat) and view.nbytes != self.fmt.frame_bytes:
                raise InvalidJob(
                    f"frame {self.frames_written} has {view.nbytes} bytes, expected "
                    f"{self.fmt.frame_bytes} ({self.fmt.width}x{self.fmt.height} "
                    f"{self.fmt.pix_fmt}): every frame of a clip must have the same size"
                )
            try:
                stdin.write(view)
            except (BrokenPipeError, ValueError) as exc:
                code = self._proc.wait()
                raise FFmpegError(
                    f"ffmpeg encoding {self.output.name}", code, self._stderr.text()
                ) from exc
        self.frames_written += 1

    def close(self) -> None:
        """Finish the stream and check ffmpeg's exit status."""
        stdin = self._proc.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()
        code = self._proc.wait()
        if code != 0:
            raise FFmpegError(f"ffmpeg encoding {self.output.name}", code, self._stderr.text())

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        with contextlib.suppress(Exception):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        self._proc.wait()
        self._stderr.text(timeout=1.0)

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.kill()


def encode_images(
    pattern: Path, frames: int, rate: Fraction, encoder: EncoderSpec, output: Path
) -> None:
    """Encode the numbered images ``pattern`` (e.g. ``dir/%06d.ppm``, from 0) into ``output``."""
    run(
        ["-loglevel", "error", "-y", "-f", "image2", "-framerate", rate_arg(rate),
         "-start_number", "0", "-i", str(pattern), "-frames:v", str(frames), "-an",
         *encoder_args(encoder), str(output)],
        f"ffmpeg encoding {frames} images into {Path(output).name}",
        tied=True,
    )  # fmt: skip


def concat(
    segments: Sequence[Path],
    output: Path,
    workdir: Path,
    durations: Sequence[Fraction] | None = None,
) -> None:
    """Join segments encoded with identical arguments, without re-encoding (concat demuxer).

    ``durations``: each segment's length (frames / rate) when the caller knows it; otherwise
    each stream's own stated duration is read.
    """
    listing = workdir / f"concat-{uuid.uuid4().hex}.txt"
    # Each segment's exact duration is given: otherwise the demuxer offsets the next segment by
    # the container's duration, rounded to milliseconds, and the joins drift (measured with
    # 30000/1001: r_frame_rate became 359/12 and the stream 1.3 ms too long). A stream's stated
    # duration is not always its frames' either: manim states a scene's run time (0.6 s for 18
    # frames at 30000/1001, which last 0.6006 s), which leaves a gap at the join and turned
    # r_frame_rate into 30.
    if durations is None:
        durations = [stream_duration(s) for s in segments]
    if len(durations) != len(segments):
        raise ValueError(f"{len(segments)} segments but {len(durations)} durations")
    # The list syntax: single quotes, with ' escaped as '\''.
    listing.write_text(
        "".join(
            "file '" + str(Path(s).resolve()).replace("'", "'\\''") + "'\n"
            f"duration {float(d):.6f}\n"
            for s, d in zip(segments, durations, strict=True)
        )
    )
    try:
        run(
            ["-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
             "-map", "0:v", "-c", "copy", str(output)],
            f"ffmpeg concatenating {len(segments)} segments",
        )  # fmt: skip
    finally:
        listing.unlink(missing_ok=True)


def mux_audio(video: Path, audio: Path, output: Path) -> None:
    """Put an already-encoded audio file beside the video stream (both copied, as MoviePy does)."""
    run(
        ["-loglevel", "error", "-y", "-i", str(video), "-i", str(audio),
         "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", str(output)],
        f"ffmpeg muxing audio into {output.name}",
    )  # fmt: skip



# ---------------------------------------------------------------------------------------------
# Scenes: a held last frame, one audio track from per-scene pieces, stream compatibility


def still_tail(
    video: Path, last_index: int, count: int, rate: Fraction, encoder: EncoderSpec, output: Path
) -> None:
    """Encode ``count`` copies of the last frame (index ``last_index``) of ``video`` into ``output``.

    Concatenated after ``video`` it holds the last frame (tpad ``stop_mode=clone``) while
    leaving ``video`` itself untouched: only the held frames are encoded, not the whole scene
    again (which would cost a full encode and a generation of quality loss).
    """
    clone = f"tpad=stop={count - 1}:stop_mode=clone,setpts=N/FRAME_RATE/TB"
    out = [
        "-fps_mode", "passthrough", "-r", rate_arg(rate), "-frames:v", str(count), "-an",
        *encoder_args(encoder), str(output),
    ]  # fmt: skip
    what = f"ffmpeg holding the last frame of {Path(video).name} for {count} frames"
    # Fast: seek to the last few frames and take the last one decoded (reverse buffers only
    # those), instead of decoding the whole scene.
    run(
        ["-loglevel", "error", "-y", "-sseof", f"-{float(4 / rate):.6f}", "-i", str(video),
         "-map", "0:v:0", "-vf", f"reverse,trim=end_frame=1,{clone}", *out],
        what,
    )  # fmt: skip
    if count_packets(output) == count:
        return
    # A seek that found no frame: decode everything and pick the frame by its index.
    run(
        ["-loglevel", "error", "-y", "-i", str(video), "-map", "0:v:0",
         "-vf", f"select='eq(n\\,{last_index})',{clone}", *out],
        what,
        tied=True,  # decodes the whole scene
    )  # fmt: skip
    if count_packets(output) != count:
        raise FFmpegError(what, 0, f"frame {last_index} not found in {Path(video).name}")


@dataclass(frozen=True)
class AudioPiece:
    """One stretch of an audio track: a file (padded with silence) or silence, ``samples`` long."""

    path: Path | None
    samples: int


def build_audio_track(
    pieces: Sequence[AudioPiece],
    output: Path,
    *,
    sample_rate: int = 48000,
    codec: str = "aac",
    bitrate: str | None = None,
) -> None:
    """Encode the pieces one after another as one stereo track (one encode, one priming delay).

    Each file is resampled, padded with silence and cut to exactly its piece's sample count,
    so every piece starts at the sample where its scene starts.
    """
    inputs: list[str] = []
    chains: list[str] = []
    for index, piece in enumerate(pieces):
        if piece.samples < 1:
            raise InvalidJob(f"audio piece {index} has {piece.samples} samples; it needs >= 1")
        cut = f"apad=whole_len={piece.samples},atrim=end_sample={piece.samples}"
        if piece.path is None:
            chains.append(f"anullsrc=r={sample_rate}:cl=stereo,{cut}[a{index}]")
        else:
            source = len(inputs) // 2
            inputs += ["-i", str(piece.path)]
            chains.append(
                f"[{source}:a:0]aresample={sample_rate},"
                f"aformat=sample_fmts=fltp:channel_layouts=stereo,{cut}[a{index}]"
            )
    labels = "".join(f"[a{index}]" for index in range(len(pieces)))
    graph = ";".join([*chains, f"{labels}concat=n={len(pieces)}:v=0:a=1[out]"])
    rate = ["-b:a", bitrate] if bitrate else []
    run(
        ["-loglevel", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[out]",
         "-c:a", codec, *rate, "-ar", str(sample_rate), str(output)],
        f"ffmpeg building the audio track {Path(output).name} from {len(pieces)} pieces",
        tied=True,
    )  # fmt: skip


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


def concat_reencoded(segments: Sequence[Path], output: Path, encoder: EncoderSpec) -> None:
    """Join segments whose encodings differ: each decoded by its own decoder (concat filter)."""
    inputs: list[str] = []
    for segment in segments:
        inputs += ["-i", str(segment)]
    labels = "".join(f"[{index}:v:0]" for index in range(len(segments)))
    run(
        ["-loglevel", "error", "-y", *inputs,
         "-filter_complex", f"{labels}concat=n={len(segments)}:v=1:a=0[out]", "-map", "[out]",
         "-fps_mode", "passthrough", "-an", *encoder_args(encoder), str(output)],
        f"ffmpeg re-encoding {len(segments)} segments into {Path(output).name}",
        tied=True,
    )  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Probing


def probe(path: Path) -> dict[str, Any]:
    """ffprobe's JSON for the streams and format of ``path``."""
    out = run(
        ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        f"ffprobe {Path(path).name}",
        tool="ffprobe",
    )
    data: dict[str, Any] = json.loads(out)
    return data


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
    """Video frames in ``path`` by counting packets (0.1 s, versus 2 s for decoding)."""
    out = run(
        ["-v", "error", "-select_streams", "v:0", "-count_packets",
         "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", str(path)],
        f"ffprobe counting frames of {Path(path).name}",
        tool="ffprobe",
    )  # fmt: skip
    return int(out.strip().split(",")[0])


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


# ---------------------------------------------------------------------------------------------
# Decoding (reading outputs back for validation)

# Every decoded frame, as stored: without it ffmpeg may drop or duplicate frames to fit a rate.
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


def psnr_average(path: Path, reference: Path) -> float:
    """Average PSNR (dB) of ``path``'s frames against ``reference``'s (``inf`` when identical).

    ffmpeg's own figure: from the mean squared error over all frames and planes; frame i is
    compared with frame i whatever the containers' timestamps. Both videos must have the same
    frame size.
    """
    proc = run_capture(
        ["-loglevel", "info", "-nostats", "-i", str(path), "-i", str(reference),
         "-lavfi", f"[0:v:0]{_BY_INDEX}[main];[1:v:0]{_BY_INDEX}[ref];[main][ref]psnr",
         "-f", "null", "-"],
        f"ffmpeg comparing {Path(path).name} with {Path(reference).name} (psnr)",
    )  # fmt: skip
    found = _PSNR_AVERAGE.findall(proc.stderr)
    if not found:
        raise FFmpegError(
            f"ffmpeg comparing {Path(path).name} with {Path(reference).name} (psnr)",
            proc.returncode,
            "no PSNR summary in ffmpeg's output\n" + proc.stderr,
        )
    return float(found[-1])  # float() reads "inf"


_SSIM_ALL = re.compile(r"SSIM .*?All:(\S+)")


@dataclass(frozen=True)
class Quality:
    """``path``'s frames against a reference's: average PSNR (dB, ``inf`` when identical) and
    SSIM (1.0 when identical), both as ffmpeg's psnr and ssim filters report them."""

    psnr: float
    ssim: float


def quality(path: Path, reference: Path, *, pix_fmt: str | None = None) -> Quality:
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
    proc = run_capture(
        ["-loglevel", "info", "-nostats", "-i", str(path), "-i", str(reference),
         "-lavfi", graph, "-f", "null", "-"],
        what,
    )  # fmt: skip
    psnr_found, ssim_found = _PSNR_AVERAGE.findall(proc.stderr), _SSIM_ALL.findall(proc.stderr)
    if not psnr_found or not ssim_found:
        raise FFmpegError(what, proc.returncode, "no PSNR/SSIM summary in ffmpeg's output\n" + proc.stderr)
    return Quality(psnr=float(psnr_found[-1]), ssim=float(ssim_found[-1]))


def iter_rgb_frames(path: Path, width: int, height: int) -> Iterator[bytes]:
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
    stderr = _StderrTail(proc.stderr)
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


# ---------------------------------------------------------------------------------------------
# Files


def temp_name(output: Path, tag: str = "partial") -> Path:
    """A unique name next to ``output`` keeping its suffix (ffmpeg picks the muxer by suffix)."""
    output = Path(output)
    return output.with_name(f".{output.stem}.{tag}-{uuid.uuid4().hex[:12]}{output.suffix}")


def check_output_path(output: Path) -> None:
    """Fail early when the output cannot be written: missing or read-only directory."""
    output = Path(output)
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidJob(f"output directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidJob(f"output directory {parent} is not writable")
    if output.is_dir():
        raise InvalidJob(f"output path {output} is a directory")
    if not output.suffix:
        raise InvalidJob(f"output path {output} needs a suffix (e.g. .mp4) to pick the container")


@contextlib.contextmanager
def atomic_output(output: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``output``; rename it over ``output`` only on success.

    On failure the temporary file is removed and an existing file at ``output`` is untouched.
    """
    tmp = temp_name(output)
    try:
        yield tmp
        if not tmp.exists():
            raise FFmpegError(f"writing {Path(output).name}", None, "no output file was produced")
        os.replace(tmp, output)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def scratch_dir(prefix: str = "renderbench-") -> Iterator[Path]:
    """A private temporary directory removed on exit, whatever happens inside."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
