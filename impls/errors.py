"""Error types, named for what went wrong, carrying the facts a user needs to act."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> BaseException:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class RenderbenchError(Exception):
    """Base of every error renderbench raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (a worker's error is re-raised in the parent), and
        # pickle rebuilds an exception by calling cls(*self.args): that breaks for every
        # subclass whose __init__ takes other arguments than its message. Rebuild the instance
        # as it is instead.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class InvalidJob(RenderbenchError, ValueError):
    """The job asks for something impossible (bad fps, odd size for yuv420p, workers < 1...)."""


class InvalidSource(RenderbenchError, ValueError):
    """The source cannot be built: factory not importable, not a clip, zero duration..."""


class UnsendableClip(InvalidSource):
    """A clip object holds something that cannot travel to another process (a socket, a lock,
    a generator...); ``path`` names where it sits in the clip, e.g.
    ``clip.clips[1].frame_function.<closure>.sock``."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        where = f"{path} is {reason}" if path else reason
        super().__init__(
            f"the clip cannot be sent to the worker processes: {where}; build the clip in an "
            "importable factory function and render 'pkg.module:function' instead (every "
            "worker then builds the clip itself)"
        )


class ToolNotFound(RenderbenchError, FileNotFoundError):
    """An external program (ffmpeg, ffprobe, manim, latex) is missing."""

    def __init__(self, tool: str, hint: str = "") -> None:
        self.tool = tool
        message = f"{tool} not found"
        if hint:
            message += f": {hint}"
        super().__init__(message)


class EncoderUnavailable(RenderbenchError, ValueError):
    """The requested encoder is not in (or does not work with) this ffmpeg."""

    def __init__(self, codec: str, available: Sequence[str], reason: str = "") -> None:
        self.codec = codec
        self.available = tuple(available)
        detail = f" ({reason})" if reason else ""
        shown = ", ".join(self.available) or "none"
        super().__init__(
            f"encoder {codec!r} is not available in this ffmpeg{detail}; available: {shown}"
        )


class RenderFailed(RenderbenchError, RuntimeError):
    """A render started and did not produce an output."""


class FFmpegError(RenderFailed):
    """ffmpeg or ffprobe exited with an error; carries its exit status and stderr tail."""

    def __init__(self, what: str, returncode: int | None, stderr: str) -> None:
        self.returncode = returncode
        self.stderr = stderr
        tail = _tail(stderr, 15)
        if returncode is not None and returncode < 0:
            status = f"killed by signal {-returncode}"
        else:
            status = f"exit status {returncode}"
        super().__init__(f"{what} failed ({status}):\n{tail}" if tail else f"{what} failed ({status})")


class FrameFailed(RenderFailed):
    """User code raised while computing one frame; ``traceback`` is the worker's, as text."""

    def __init__(self, frame: int, t: float, cause: str, traceback: str = "") -> None:
        self.frame, self.t, self.cause, self.traceback = frame, t, cause, traceback
        more = "\n" + traceback.rstrip() if traceback else ""
        super().__init__(f"frame {frame} (t={t:.6f}s) failed: {cause}{more}")


class WorkerLost(RenderFailed):
    """A worker process died (killed, crashed) while it held work."""


class SourceReadFailed(RenderFailed):
    """The ffmpeg process reading a media file of the clip died before the data it owed.

    MoviePy would repeat the last frame (video) or pad with silence (audio) and carry on; a
    renderer raises this instead, and retries the work with a fresh reader like a lost worker.
    ``path`` is the file, ``status`` how its reader ended (e.g. ``was killed by signal 9``),
    ``where`` what was being rendered (e.g. ``frame 108``).
    """

    def __init__(self, path: str, status: str, *, wanted: int, got: int, where: str = "") -> None:
        self.path, self.status, self.wanted, self.got, self.where = path, status, wanted, got, where
        during = f" while rendering {where}" if where else ""
        super().__init__(
            f"reading {path} failed{during}: its ffmpeg reader {status} after {got} of the "
            f"{wanted} bytes asked for (the frames or samples would have been wrong)"
        )

    def during(self, where: str) -> SourceReadFailed:
        """The same failure, saying what was being rendered."""
        return SourceReadFailed(self.path, self.status, wanted=self.wanted, got=self.got, where=where)


class DiskFull(RenderFailed):
    """A filesystem the render writes to is full (or over quota, or past a file size limit).

    Either the scratch directory's (frames, segments, Manim media) or the output's. ``mount``,
    ``fstype``, ``free`` and ``total`` (bytes) describe the filesystem that holds ``path``, as
    seen when the write failed; ``what`` says what was being written; ``reason`` is the
    system's word for it (``no space left on device``, ``disk quota exceeded``, ``file too
    large``); ``detail`` keeps the failing tool's own message, if any.
    """

    def __init__(
        self, what: str, path: str, *, reason: str, mount: str, fstype: str, free: int, total: int,
        detail: str = "",
    ) -> None:  # fmt: skip
        self.what, self.path, self.reason, self.detail = what, path, reason, detail
        self.mount, self.fstype, self.free, self.total = mount, fstype, free, total
        where = f"the filesystem mounted at {mount} ({fstype}, {_size(free)} free of {_size(total)})"
        if reason == "file too large":
            message = (
                f"file too large for {where} while {what} ({path}): a file may not grow that "
                "large there (the filesystem's maximum file size, or the process's limit: ulimit -f)"
            )
        else:
            message = (
                f"disk full: {reason} on {where} while {what} ({path}); free some space there, "
                "or write the output (or point TMPDIR) to a filesystem with more room"
            )
        super().__init__(message)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


class TaskTimeout(RenderFailed):
    """A unit of work (frame, chunk, scene) did not finish within its timeout."""


class ValidationFailed(RenderbenchError, AssertionError):
    """An output does not match what was expected; lists every problem found."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{path} is invalid:\n  - " + "\n  - ".join(self.problems))


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class SceneFailed(RenderFailed):
    """One Manim scene (or range of its animations) did not render.

    Carries the scene's name, manim's exit status and the tails of its stderr and stdout, so
    the message shows manim's own error (its traceback ends the stderr tail).
    """

    def __init__(
        self,
        scene: str,
        reason: str,
        *,
        returncode: int | None = None,
        stderr: str = "",
        stdout: str = "",
        hint: str = "",
    ) -> None:
        self.scene, self.reason, self.hint = scene, reason, hint
        self.returncode, self.stderr, self.stdout = returncode, stderr, stdout
        message = f"scene {scene} failed: {reason}"
        if hint:
            message += f" ({hint})"
        tail = _tail(stderr, 25) or _tail(stdout, 10)
        if tail:
            message += "\n" + tail
        super().__init__(message)


class SceneTimeout(SceneFailed, TaskTimeout):
    """A Manim scene ran past its timeout; its whole process group was killed."""


class SceneWorkerLost(SceneFailed, WorkerLost):
    """The worker rendering a Manim scene died, and the cluster gave up rescheduling it."""


class ScenesFailed(RenderFailed):
    """Some scenes of a Manim render failed; ``failures`` maps each scene name to its error.

    Raised once every scene has finished, so it names every failed scene, not only the first.
    """

    def __init__(self, failures: dict[str, SceneFailed], rendered: Sequence[str] = ()) -> None:
        self.failures = dict(failures)
        self.rendered = tuple(rendered)
        names = ", ".join(self.failures)
        parts = [f"{len(self.failures)} scene(s) failed: {names}; no output was written"]
        if self.rendered:
            parts[0] += f" (rendered fine: {', '.join(self.rendered)})"
        parts += [str(error) for error in self.failures.values()]
        super().__init__("\n\n".join(parts))
