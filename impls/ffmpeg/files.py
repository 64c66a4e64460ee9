"""Where outputs and scratch files go: checked early, written atomically, always removed."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from impls.errors import FFmpegError, InvalidJob


def _temp_name(output: Path, tag: str = "partial") -> Path:
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
    tmp = _temp_name(output)
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
