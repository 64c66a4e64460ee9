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

- Where a file's pictures end, MoviePy's video reader repeats "the last valid frame": the last
  frame *this reader* decoded. Reading every frame in order, as the baseline does, that is the
  file's last picture, but a worker that skips frames (``skip_frames`` reads them without
  keeping any) or seeks past the end (a new ffmpeg that delivers nothing) would repeat an
  earlier one. Inside :func:`guarded`, a skip keeps the last frame it read, and a seek that
  finds no picture reads the file's end from a little earlier, so every process repeats the
  file's last picture there. A file whose pictures end well before its own video stream says
  they do (cut short, damaged) raises :class:`InvalidSource` naming where it ends, instead of
  repeating a picture for the rest of the clip.
- Reading forward, MoviePy's video reader skips up to 100 frames (ffmpeg decodes each one,
  converts it to RGB and pipes it over, to be thrown away) and seeks only past that: a
  reasonable rule for a file read in order, but a worker that renders every few runs of frames
  jumps that far all the time. Inside :func:`guarded`, a jump forward seeks as soon as a seek
  decodes fewer frames than the skip would: MoviePy's seek starts decoding at the keyframe
  before a point 1 s before its target, so it decodes at most ``fps`` + the file's longest
  keyframe interval (read from its packets, nothing decoded) frames. A seek gives the same
  frame as reading in order (the rules above make sure of it, at the end of a file too).
- A variable-frame-rate file whose average rate (MoviePy's ``fps``) is not the rate ffmpeg
  delivers its frames at (the stream's ``r_frame_rate``, as MoviePy's reader runs ffmpeg
  without ``-r``) is read inconsistently by MoviePy: in order, frame ``i`` is the picture at
  ``i / r_frame_rate``, but a seek goes to ``i / fps``. A worker that seeks cannot then match a
  render reading in order, so inside :func:`guarded` such a file raises :class:`InvalidSource`
  naming the remedy (``VideoFileClip(path, fps_source="tbr")``, or a constant-rate copy).

MoviePy's modules call ``subprocess.Popen`` through their module-level name ``sp``; that name is
pointed at a stand-in whose ``Popen`` applies both rules, for the calling thread only while it
is inside :func:`guarded`, and is ``subprocess.Popen`` unchanged otherwise (other threads, the
baseline renderer, the user's own MoviePy calls). The video reader's ``initialize``,
``skip_frames``, ``read_frame`` and ``get_frame`` are wrapped the same way: MoviePy's own outside
:func:`guarded`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import subprocess
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

from impls.errors import FFmpegError, InvalidSource, SourceReadFailed, ToolNotFound
from impls.ffmpeg.probe import keyframe_interval, video_timing
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
        self.complete_reads = 0  # reads that got all the bytes they asked for
        self.ended = False  # a short read from a reader that exited cleanly: the true end

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        proc = self._proc()
        if size is not None and size > 0 and len(data) < size and proc is not None:
            status = _ended_badly(proc)
            if status is not None:
                raise SourceReadFailed(self._path, status, wanted=size, got=len(data))
            self.ended = True
        elif size is not None and size > 0:
            self.complete_reads += 1
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


def _checked_output(reader: Any) -> _CheckedOutput | None:
    out = getattr(getattr(reader, "proc", None), "stdout", None)
    return out if isinstance(out, _CheckedOutput) else None


@dataclass(frozen=True)
class _VideoFacts:
    """What ffprobe says of a file's first video stream (None where it says nothing)."""

    rate: Fraction | None  # r_frame_rate: the rate ffmpeg delivers frames at without -r
    duration: float | None  # the stream's own duration, from the file's index


@functools.lru_cache(maxsize=64)
def _probe_video(path: str, size: int, mtime_ns: int) -> _VideoFacts:
    try:
        return _VideoFacts(*video_timing(Path(path)))
    except (FFmpegError, ToolNotFound, ValueError):
        return _VideoFacts(None, None)  # MoviePy's own behaviour, as the baseline's


def _video_facts(reader: Any) -> _VideoFacts:
    path = str(reader.filename)
    try:
        stat = os.stat(path)
    except OSError:
        return _VideoFacts(None, None)
    return _probe_video(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _probe_keyframes(path: str, size: int, mtime_ns: int) -> int | None:
    try:
        return keyframe_interval(Path(path))
    except (FFmpegError, ToolNotFound, ValueError):
        return None  # MoviePy's own rule for skipping


def seek_beats_skip(reader: Any) -> int | None:
    """Frames past which a jump forward in ``reader``'s file is cheaper as a seek than as a
    skip (None: unknown, MoviePy's own rule stands).

    MoviePy's seek to ``t`` is ffmpeg's ``-ss t-1 -i FILE -ss 1``: ffmpeg decodes from the
    keyframe before ``t - 1 s`` up to ``t``, at most ``fps`` + the longest keyframe interval
    frames (and converts none of them), where a skip decodes, converts and pipes every frame
    it passes. Starting the new ffmpeg costs a few frames' worth more, hence the margin.
    """
    path = str(reader.filename)
    try:
        stat = os.stat(path)
    except OSError:
        return None
    interval = _probe_keyframes(path, stat.st_size, stat.st_mtime_ns)
    if interval is None:
        return None
    return int(float(reader.fps) + interval) + _SEEK_MARGIN


#: Frames' worth of work a seek costs beyond the frames it decodes (starting ffmpeg, the file's
#: header): a guess on the safe side; the skip it replaces converts and pipes every frame too.
_SEEK_MARGIN = 4


def reads_video_files(clip: Any, limit: int = 100_000) -> bool:
    """Whether making ``clip``'s frames reads a video file (a MoviePy video reader is within its
    reach: its subclips, layers, effects' closures...). Looks at ``limit`` objects at most."""
    from moviepy.video.io.ffmpeg_reader import FFMPEG_VideoReader

    seen: set[int] = set()
    todo: list[Any] = [clip]
    while todo and len(seen) < limit:
        obj = todo.pop()
        if id(obj) in seen or obj is None or isinstance(obj, str | bytes | int | float | type):
            continue
        seen.add(id(obj))
        if isinstance(obj, FFMPEG_VideoReader):
            return True
        if isinstance(obj, dict):
            todo.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            todo.extend(obj)
        elif isinstance(obj, functools.partial):
            todo.extend((obj.func, obj.args, obj.keywords))
        elif callable(obj) and hasattr(obj, "__code__"):  # a function: its closure, not globals
            todo.extend(cell.cell_contents for cell in (obj.__closure__ or ()) if _filled(cell))
            todo.extend(obj.__defaults__ or ())
        elif hasattr(obj, "__func__") and hasattr(obj, "__self__"):  # a bound method
            todo.extend((obj.__func__, obj.__self__))
        elif hasattr(obj, "__dict__") and not _is_array(obj):
            todo.extend(vars(obj).values())
    return False


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:  # an empty cell
        return False
    return True


def _is_array(obj: Any) -> bool:
    return type(obj).__module__ == "numpy" or type(obj).__module__.startswith("PIL.")


def _check_rate(reader: Any) -> None:
    rate = _video_facts(reader).rate
    if rate is not None and abs(float(rate) - float(reader.fps)) > 0.01:
        raise InvalidSource(
            f"{reader.filename} has a variable frame rate: MoviePy numbers its frames at "
            f"{float(reader.fps):g} fps (the average) but ffmpeg delivers them at {float(rate):g} fps, "
            "so a worker that seeks into it would show other pictures than a render reading it in "
            f"order; open it with VideoFileClip(path, fps_source=\"tbr\"), or make a constant-rate "
            f"copy (ffmpeg -i IN -fps_mode cfr -r {rate} OUT)"
        )


def _check_not_cut_short(reader: Any, index: int) -> None:
    """Raise when the pictures of ``reader``'s file end (at frame ``index``) well before the
    file's own video stream says they do."""
    duration = _video_facts(reader).duration
    at = index / float(reader.fps)
    if duration is not None and at < duration - 2 / float(reader.fps):
        raise InvalidSource(
            f"{reader.filename} ends at frame {index} ({at:.3f} s), but its video stream says it "
            f"lasts {duration:.3f} s: the file is cut short or damaged (MoviePy alone would repeat "
            "its last picture for the rest of the clip)"
        )


def _wrap_video_reader(reader_class: Any) -> None:
    """Hold ``reader_class`` (MoviePy's FFMPEG_VideoReader) to the rules of the module
    docstring, inside :func:`guarded` only."""
    import numpy as np

    initialize = reader_class.initialize
    skip_frames = reader_class.skip_frames
    read_frame = reader_class.read_frame
    get_frame = reader_class.get_frame

    def checked(reader: Any) -> _CheckedOutput | None:
        return _checked_output(reader) if _active() else None

    def read_frame_checked(self: Any) -> Any:
        out = checked(self)
        index = self.pos
        before = out.complete_reads if out is not None else 0
        frame = read_frame(self)
        if out is not None and out.ended and out.complete_reads == before:
            _check_not_cut_short(self, index)
        return frame

    def skip_keeping_the_last(self: Any, n: int = 1) -> None:
        out = checked(self)
        if out is None:
            skip_frames(self, n)
            return
        width, height = self.size
        size = self.depth * width * height
        last = None
        checked_end = False
        for k in range(n):
            data = out.read(size)
            if len(data) == size:
                last = data
            elif not checked_end:
                _check_not_cut_short(self, self.pos + k)
                checked_end = True
        if last is not None:
            self.last_read = np.frombuffer(last, dtype="uint8").reshape(height, width, self.depth)
        self.pos += n

    def initialize_as_read_in_order(self: Any, start_time: float = 0) -> None:
        if not _active():
            initialize(self, start_time)
            return
        _check_rate(self)
        built = hasattr(self, _BUILT_PAST_END)
        if not built:
            _building().append(weakref.ref(self))
        initialize(self, start_time)
        out = _checked_output(self)
        if out is None or out.complete_reads or not out.ended:
            return
        # No picture at or after start_time, and the file is not cut short (read_frame checked):
        # its pictures end before. While the clip is being built, every process (the
        # baseline's too) seeks here alike: MoviePy's own repeat stands. So it does when the
        # built clip left this reader past the end: reading on in order, the baseline never
        # reads another picture from it either.
        if not built or getattr(self, _BUILT_PAST_END):
            return
        # A worker's own seek: read the end from a little earlier, keeping the last picture,
        # as the baseline, reading every frame in order from where the build left it, has it.
        wanted = self.pos  # the frame after the one asked for, as MoviePy counts
        back = 1.0
        while True:
            earlier = max(0.0, start_time - back)
            initialize(self, earlier)
            out = _checked_output(self)
            if earlier == 0.0 or out is None or out.complete_reads:
                break
            back *= 2
        skip_keeping_the_last(self, max(0, wanted - 1 - self.pos))
        self.read_frame()  # short: MoviePy repeats the last picture, now the file's last

    def get_frame_seeking_when_cheaper(self: Any, t: float) -> Any:
        if _active() and self.proc:
            ahead = self.get_frame_number(t) - self.pos  # frames a skip would pass
            if 0 < ahead < 100:  # from 100 on MoviePy seeks itself
                beyond = seek_beats_skip(self)
                if beyond is not None and ahead > beyond:
                    self.initialize(t)  # what MoviePy's get_frame does for a long jump
                    return self.last_read
        return get_frame(self, t)

    reader_class.initialize = initialize_as_read_in_order
    reader_class.skip_frames = skip_keeping_the_last
    reader_class.read_frame = read_frame_checked
    reader_class.get_frame = get_frame_seeking_when_cheaper


#: Set on a video reader once the :func:`guarded` block that started it ends (the clip is
#: built): whether the build left it past the end of its file's pictures.
_BUILT_PAST_END = "_renderbench_built_past_end"


def _building() -> list[weakref.ref[Any]]:
    """The video readers started in this thread's outermost :func:`guarded` block so far."""
    pending: list[weakref.ref[Any]] | None = getattr(_here, "building", None)
    if pending is None:
        pending = _here.building = []
    return pending


def _built() -> None:
    """The outermost :func:`guarded` block ends: note where it left each reader it started."""
    pending = _building()
    _here.building = []
    for ref in pending:
        reader = ref()
        if reader is None or hasattr(reader, _BUILT_PAST_END):
            continue
        out = _checked_output(reader)
        setattr(reader, _BUILT_PAST_END, out is not None and out.ended and not out.complete_reads)


def _install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        stand_in = _Subprocess()
        for name in _MODULES:
            module = importlib.import_module(name)
            module.sp = stand_in  # type: ignore[attr-defined]
        _wrap_video_reader(importlib.import_module("moviepy.video.io.ffmpeg_reader").FFMPEG_VideoReader)
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
        if not _here.depth:
            _built()
