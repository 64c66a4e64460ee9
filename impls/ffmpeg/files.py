"""Where outputs and scratch files go: checked early, written atomically, always removed, and
a full filesystem reported as such (:class:`~impls.errors.DiskFull`, naming it)."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from impls.errors import DiskFull, FFmpegError, InvalidJob

#: The errors that mean "this filesystem takes no more", by errno, in the system's words (as
#: ffmpeg, manim and Python print them).
_FULL = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large",
}
_FULL_TEXT = {os.strerror(code).lower(): reason for code, reason in _FULL.items()}
_ERRNO = re.compile(r"\[Errno (\d+)\]")

#: A filesystem with less room than this counts as full: the last write there may have failed.
NEARLY_FULL = 1 << 20


@dataclass(frozen=True)
class Filesystem:
    """The filesystem holding a path: where it is mounted, its type, free and total bytes."""

    mount: str
    fstype: str
    free: int
    total: int


def filesystem(path: str | os.PathLike[str]) -> Filesystem:
    """The filesystem of ``path`` (or of its nearest existing ancestor: the file may be gone)."""
    place = Path(os.path.abspath(path))
    while not place.exists() and place != place.parent:
        place = place.parent
    mount = place
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    fstype = "unknown type"
    with contextlib.suppress(Exception):  # psutil: absent on exotic systems, or /proc unreadable
        import psutil

        types = {part.mountpoint: part.fstype for part in psutil.disk_partitions(all=True)}
        fstype = types.get(str(mount), fstype)
    try:
        stat = os.statvfs(place)
    except OSError:
        return Filesystem(str(mount), fstype, 0, 0)
    # root may also write into the blocks a filesystem reserves for it (ext4: 5 %).
    free = stat.f_bfree if os.geteuid() == 0 else stat.f_bavail
    return Filesystem(str(mount), fstype, free * stat.f_frsize, stat.f_blocks * stat.f_frsize)


def full_reason(error: BaseException | None = None, text: str = "", returncode: int | None = None) -> str | None:
    """Why a write failed, if for lack of room: from an :class:`OSError`'s errno, from a
    tool's message (ffmpeg's ``No space left on device``) or its death by SIGXFSZ (a file
    past the process's size limit, ``ulimit -f``); None for any other failure."""
    if isinstance(error, OSError) and error.errno in _FULL:
        return _FULL[error.errno]
    if returncode == -signal.SIGXFSZ:
        return _FULL[errno.EFBIG]
    # Whitespace evened out: manim's tracebacks wrap lines wherever the terminal width says.
    lowered = " ".join(text.lower().split())
    for words, reason in _FULL_TEXT.items():
        if words in lowered:
            return reason
    for number in _ERRNO.findall(text):  # Python's "[Errno 28] ..." in a child's traceback
        if int(number) in _FULL:
            return _FULL[int(number)]
    return None


def disk_full(
    path: str | os.PathLike[str], what: str, error: BaseException | None = None, text: str = "",
    returncode: int | None = None,
) -> DiskFull | None:  # fmt: skip
    """The :class:`DiskFull` for a failed write of ``path`` (``what``: e.g. ``encoding
    video.mp4``), when ``error``, the tool's message ``text`` or its exit status say the
    filesystem is full (:func:`full_reason`); None otherwise."""
    reason = full_reason(error, text, returncode)
    if reason is None:
        return None
    fs = filesystem(path)
    detail = text.strip() or (str(error) if error is not None else "")
    return DiskFull(
        what, str(path), reason=reason, mount=fs.mount, fstype=fs.fstype, free=fs.free,
        total=fs.total, detail=detail,
    )  # fmt: skip


def cut_short(path: str | os.PathLike[str], what: str, error: BaseException | str) -> DiskFull | None:
    """The :class:`DiskFull` for a file that does not read back as written (``error``) when
    its filesystem is now full; None when there is room (then something else is wrong).

    ffmpeg (5.1) can exit with status 0 after its last writes failed for lack of room, leaving
    a truncated file: only reading the file back shows it.
    """
    fs = filesystem(path)
    if fs.free >= NEARLY_FULL:
        return None
    return DiskFull(
        what, str(path), reason=_FULL[errno.ENOSPC], mount=fs.mount, fstype=fs.fstype,
        free=fs.free, total=fs.total,
        detail=f"the file was cut short ({error}) and its filesystem is full",
    )  # fmt: skip


def past_size_limit(path: str | os.PathLike[str], what: str) -> DiskFull | None:
    """The :class:`DiskFull` for a write that failed without saying why (MoviePy reports its
    ffmpeg's death by SIGXFSZ as a broken pipe) when ``path`` has reached this process's file
    size limit (``ulimit -f``); None otherwise."""
    import resource

    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    try:
        size = os.stat(path).st_size
    except OSError:
        return None
    if limit == resource.RLIM_INFINITY or size < limit:
        return None
    fs = filesystem(path)
    return DiskFull(
        what, str(path), reason=_FULL[errno.EFBIG], mount=fs.mount, fstype=fs.fstype,
        free=fs.free, total=fs.total, detail=f"{size} bytes written, the file size limit is {limit}",
    )  # fmt: skip


@contextlib.contextmanager
def writing(path: str | os.PathLike[str], what: str) -> Iterator[None]:
    """Turn a full filesystem met while writing ``path`` inside the block into :class:`DiskFull`.

    A failed ``write()`` does not name its file (``OSError.filename`` is None), hence ``path``.
    """
    try:
        yield
    except OSError as exc:
        full = disk_full(path, what, exc)
        if full is None:
            raise
        raise full from exc


def _token() -> str:
    return uuid.uuid4().hex[:12]


def _temp_name(output: Path, tag: str = "partial") -> Path:
    """A unique name next to ``output`` keeping its suffix (ffmpeg picks the muxer by suffix)."""
    output = Path(output)
    return output.with_name(f".{output.stem}.{tag}-{_token()}{output.suffix}")


def _reserve(output: Path) -> Path:
    """Create the partial file of ``output``, empty, under a fresh name beside it.

    Created here, exclusively: a file or a symbolic link someone else put at that name (the
    directory may be shared) makes it draw another name, never write through. The path is
    absolute, so that ffmpeg never reads an output named ``-x.mp4`` or ``pipe:1.mp4`` as an
    option or a protocol. Readable by its owner only until it is complete.
    """
    output = Path(output).absolute()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        tmp = _temp_name(output)
        try:
            os.close(os.open(tmp, flags, 0o600))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(errno.EEXIST, "no unused name for the partial output file", str(output.parent))


def _new_file_mode() -> int:
    """The permissions a new file gets here (0o666 less the umask), as the output had before."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    mask = os.umask(0o022)  # no /proc: read it by setting it (and put it back at once)
    os.umask(mask)
    return 0o666 & ~mask


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
    """Yield a temporary path next to ``output`` (an empty file, :func:`_reserve`); rename it
    over ``output`` only on success.

    On failure the temporary file is removed and an existing file at ``output`` is untouched.
    """
    with writing(Path(output).absolute().parent, f"creating the partial file of {Path(output).name}"):
        tmp = _reserve(output)
    try:
        yield tmp
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise FFmpegError(f"writing {Path(output).name}", None, "no output file was produced")
        with writing(tmp, f"moving {tmp.name} into place as {Path(output).name}"):
            os.chmod(tmp, _new_file_mode())
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
