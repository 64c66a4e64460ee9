"""Running ffmpeg and ffprobe: stderr always captured, failures as :class:`FFmpegError`.

stderr is drained by a thread for long-running writers, so a chatty ffmpeg never blocks; a
failure carries the exit status and the tail of ffmpeg's own message. Every process starts in
a process group of its own: a terminal's Ctrl-C goes to the rendering process, which decides
what it means (ffmpeg would otherwise die at once, and the render report an ffmpeg error).
"""

from __future__ import annotations

import collections
import contextlib
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Literal

from impls.errors import DiskFull, FFmpegError, InvalidJob
from impls.ffmpeg.command import PipedImages, RawFormat, encoder_args
from impls.ffmpeg.files import NEARLY_FULL, cut_short, disk_full, filesystem
from impls.ffmpeg.tools import ffmpeg_binary, ffprobe_binary
from impls.model.protocol import EncoderSpec
from impls.runtime import lifeline


def run(
    args: Sequence[str], what: str, *, tool: str = "ffmpeg", timeout: float | None = None,
    tied: bool = False, output: Literal["stdout", "stderr"] = "stdout",
) -> str:  # fmt: skip
    """Run ffmpeg (or ffprobe) with ``args``; return its ``output`` (some filters report on
    stderr only); raise FFmpegError on failure.

    ``tied=True`` for long runs that read no pipe from us (encodes of files): the process is
    killed when this one dies, even by SIGKILL (:mod:`impls.runtime.lifeline`, which costs a
    short interpreter start).
    Short runs (probes, ``-c copy``) end by themselves within seconds; a
    :class:`FrameWriter`'s ffmpeg ends at the EOF on its stdin.
    """
    binary = ffmpeg_binary() if tool == "ffmpeg" else ffprobe_binary()
    cmd = [binary, "-hide_banner", "-nostdin", *args] if tool == "ffmpeg" else [binary, *args]
    if tied:
        cmd = lifeline.tied(cmd)
    try:
        # process_group=0: not the terminal's, a Ctrl-C is for this process to handle.
        proc = subprocess.run(
            cmd, capture_output=True, text=True, errors="replace", timeout=timeout, check=False,
            process_group=0,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        raise FFmpegError(f"{what} (timed out after {timeout}s)", None, stderr) from exc
    # ffmpeg's last argument is the file it writes.
    written = args[-1] if tool == "ffmpeg" and args else None
    if proc.returncode != 0:
        error = FFmpegError(what, proc.returncode, proc.stderr)
        full = disk_full(written, what, text=proc.stderr, returncode=proc.returncode) if written else None
        if full is not None:
            raise full from error
        raise error
    if written is not None:
        check_written(Path(written), what)
    return proc.stdout if output == "stdout" else proc.stderr


def check_written(path: Path, what: str) -> None:
    """After ffmpeg exited with status 0: where ``path``'s filesystem is now full, read the
    file back, and raise :class:`DiskFull` if it does not read (ffmpeg 5.1 exits with status 0
    when the last writes of a file fail for lack of room, leaving it truncated). Costs one
    ``statvfs`` where there is room."""
    if not path.is_file() or filesystem(path).free >= NEARLY_FULL:
        return
    probe = subprocess.run(
        [ffprobe_binary(), "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, errors="replace", check=False, process_group=0,
    )  # fmt: skip
    if probe.returncode != 0:
        full = cut_short(path, what, probe.stderr.strip() or f"ffprobe exit status {probe.returncode}")
        if full is not None:
            raise full


class StderrTail:
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
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            process_group=0,
        )  # fmt: skip
        assert self._proc.stderr is not None
        self._stderr = StderrTail(self._proc.stderr)

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
                raise self._failure(code) from exc
        self.frames_written += 1

    def _failure(self, code: int) -> FFmpegError | DiskFull:
        """The error for ffmpeg's exit ``code``: a full disk where its message says so."""
        what = f"ffmpeg encoding {self.output.name}"
        error = FFmpegError(what, code, self._stderr.text())
        full = disk_full(self.output, what, text=error.stderr, returncode=code)
        if full is None:
            return error
        full.__cause__ = error
        return full

    def close(self) -> None:
        """Finish the stream and check ffmpeg's exit status."""
        stdin = self._proc.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()
        code = self._proc.wait()
        if code != 0:
            raise self._failure(code)
        check_written(self.output, f"ffmpeg encoding {self.output.name}")

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
