"""MoviePy's own ffmpeg processes, held to a renderer's rules while it uses them.

MoviePy starts one ffmpeg per media file it reads (``VideoFileClip``, ``AudioFileClip``) and per
file it writes (``write_audiofile``). Two of its habits break what a renderer promises:

- A reader whose ffmpeg died mid-file (the OOM killer, a ``kill -9``) reads short, and MoviePy
  carries on: the video reader repeats its last frame (with a warning), the audio reader pads
  with silence, and the render ends "successfully" with wrong frames. Inside :func:`guarded`, a
  short read from a reader whose ffmpeg ended abnormally raises :class:`SourceReadFailed`, which
  the renderers retry with a fresh reader. A short read at the true end of a file (ffmpeg
  exited with status 0) keeps MoviePy's behaviour: the baseline does the same there.
- Its processes share the terminal's process group, so a Ctrl-C kills them at once, before the
  renderer's process has decided what the Ctrl-C means (and a process that ignores SIGINT
  would see its readers die under it). Inside :func:`guarded` they start in a process group of
  their own; they still end with the render (the renderer closes them, and a reader or writer
  whose parent dies sees its pipe close).

MoviePy's modules call ``subprocess.Popen`` through their module-level name ``sp``; that name is
pointed at a stand-in whose ``Popen`` applies both rules, for the calling thread only while it
is inside :func:`guarded`, and is ``subprocess.Popen`` unchanged otherwise (other threads, the
baseline renderer, the user's own MoviePy calls).
"""

from __future__ import annotations

import contextlib
import importlib
import subprocess
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import IO, Any

from impls.errors import SourceReadFailed
from impls.runtime.processes import describe_exit

#: MoviePy's modules that start ffmpeg processes: readers (whose reads are checked) and writers.
_MODULES = (
    "moviepy.video.io.ffmpeg_reader",
    "moviepy.audio.io.readers",
    "moviepy.audio.io.ffmpeg_audiowriter",
    "moviepy.video.io.ffmpeg_writer",
)

#: How long a short read waits for its reader to exit before calling it stuck (seconds).
#: ffmpeg closes its output only when it exits, so it is normally a matter of milliseconds.
_EXIT_WAIT_S = 10.0

_here = threading.local()
_installed = False
_install_lock = threading.Lock()


def _active() -> bool:
    return bool(getattr(_here, "depth", 0))


def _ended_badly(proc: subprocess.Popen[bytes]) -> str | None:
    """How the reader ended, if abnormally; ``None`` when it exited with status 0."""
    try:
        code = proc.wait(timeout=_EXIT_WAIT_S)
    except subprocess.TimeoutExpired:
        return f"stopped sending data but had not exited {_EXIT_WAIT_S:g} s later"
    if code == 0:
        return None
    return f"was {describe_exit(code)}" if code < 0 else describe_exit(code)


class _CheckedOutput:
    """A reader's stdout whose short reads are checked against how the reader ended."""

    def __init__(self, raw: IO[bytes], proc: subprocess.Popen[bytes], path: str) -> None:
        self._raw = raw
        # Weak: a strong reference would make a cycle (proc.stdout is this object), and the
        # pipe would then be closed by the garbage collector, whenever it runs, not when
        # MoviePy drops its reader.
        self._proc = weakref.ref(proc)
        self._path = path

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        proc = self._proc()
        if size is not None and size > 0 and len(data) < size and proc is not None:
            status = _ended_badly(proc)
            if status is not None:
                raise SourceReadFailed(self._path, status, wanted=size, got=len(data))
        return data

    def __getattr__(self, name: str) -> Any:  # close(), fileno(), flush()...
        return getattr(self._raw, name)


def _input_of(cmd: Sequence[Any]) -> str | None:
    """The file a MoviePy reader command reads (``-i FILE ... -``); None for other commands."""
    args = [str(arg) for arg in cmd]
    if not args or args[-1] != "-" or "-i" not in args[:-1]:
        return None
    return args[args.index("-i") + 1]


class _GuardedPopen(subprocess.Popen[Any]):
    """A MoviePy process started inside :func:`guarded`: its own process group, checked reads,
    and nothing left to the garbage collector.

    MoviePy closes a reader's pipes only while its ffmpeg still runs, and never closes the
    readers of clips it did not create (the file clips inside a composite): their processes
    and pipes are then reclaimed by the garbage collector, which warns about each. Once
    MoviePy lets go of one of these, it is stopped and its pipes closed here.
    """

    def __init__(self, cmd: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("process_group", 0)
        super().__init__(cmd, *args, **kwargs)
        path = _input_of(cmd)
        if path is not None and self.stdout is not None:
            self.stdout = _CheckedOutput(self.stdout, self, path)  # type: ignore[assignment]

    def __del__(self, *args: Any, **kwargs: Any) -> None:
        with contextlib.suppress(Exception):
            if self.returncode is None and self.poll() is None:
                self.kill()  # a reader of a clip nobody holds any more
                self.wait()
            for stream in (self.stdin, self.stdout, self.stderr):
                if stream is not None:
                    stream.close()
        super().__del__(*args, **kwargs)


class _Subprocess:
    """What MoviePy's modules see as ``sp``: the subprocess module, but for ``Popen``."""

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    @staticmethod
    def Popen(cmd: Any, *args: Any, **kwargs: Any) -> subprocess.Popen[Any]:  # noqa: N802
        if not _active():
            return subprocess.Popen(cmd, *args, **kwargs)
        return _GuardedPopen(cmd, *args, **kwargs)


def _install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        stand_in = _Subprocess()
        for name in _MODULES:
            module = importlib.import_module(name)
            module.sp = stand_in  # type: ignore[attr-defined]
        _installed = True


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """MoviePy processes this thread starts in the block: own process group, checked reads.

    A reader started inside stays checked for its whole life (a clip built here and read
    later); one that MoviePy restarts outside the block (a seek) is MoviePy's own again.
    """
    _install()
    _here.depth = getattr(_here, "depth", 0) + 1
    try:
        yield
    finally:
        _here.depth -= 1
