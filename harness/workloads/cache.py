"""Where generated inputs are kept between processes and runs, and how they are written.

Every worker process rebuilds its clip from the workload's factory, and `make bench`, `make test`
and later runs all want the same inputs: an input that costs seconds or minutes to generate (a
full-HD image, a source video encoded by ffmpeg) is made once per machine and read back after
that. The folder is ``$RENDERBENCH_CACHE``, else ``$XDG_CACHE_HOME/renderbench``, else
``~/.cache/renderbench``; each file's name carries every parameter it was made from, so a
change of parameters makes a new file and deleting the folder only costs time.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from impls.manim.tex_cache import locked

CACHE_ENV = "RENDERBENCH_CACHE"


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "renderbench"


def cached_file(path: Path, make: Callable[[Path], None]) -> Path:
    """``path``, made by ``make(temporary)`` the first time it is asked for.

    ``make`` writes a temporary file in the same folder with the same suffix (ffmpeg picks the
    container by it); it is renamed to ``path`` only when ``make`` returns, so a reader never sees
    a half-written file, and a failure leaves nothing behind. Processes asking at the same time
    (workers starting together) wait for the one that generates.
    """
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.with_name(f".{path.name}.lock")):  # one process makes it, the others wait
        if path.is_file():  # made by another process while this one waited
            return path
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.partial-", suffix=path.suffix)
        os.close(fd)
        temporary = Path(name)
        try:
            make(temporary)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would hide it from other users
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    return path
