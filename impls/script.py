"""Run an unchanged MoviePy script, its ``write_videofile`` calls rendered in parallel.

The script runs as ``python script.py args`` runs it: ``sys.argv`` is ``[script.py, args...]``,
``__name__`` is ``"__main__"``, ``__file__`` its absolute path, ``sys.path[0]`` its directory,
and the working directory is unchanged (relative paths mean what they meant). One thing
differs: while it runs, ``VideoClip.write_videofile`` is :func:`impls.videofile.write_videofile`
(same arguments, plus renderbench's own given to :func:`run_script`), and each video is
announced once written. ``write_gif``, ``write_images_sequence``, audio's ``write_audiofile``
and everything else are MoviePy's own.

Workers never run the script. multiprocessing's ``spawn`` and ``forkserver`` start each worker
by importing the parent's main module again (as ``__mp_main__``: an unguarded script would run
once more in every worker), unless that module's spec is named ``__main__``
(``multiprocessing.spawn._fixup_main_from_name`` then skips it): the script's module gets such
a spec. Nothing in a worker needs it: the clip travels pickled, and cloudpickle sends the
script's functions by value. A script that starts its own process pool on functions of its own
therefore cannot use ``spawn``/``forkserver`` workers under this runner.

The command lines are ``renderbench exec`` and ``python -m impls`` (:mod:`harness.exec_cli`).
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.machinery
import sys
import time
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from impls.errors import InvalidSource
from impls.model.protocol import RenderResult
from impls.videofile import write_videofile

#: Told of each video once written: its result and the seconds the call took.
Announce = Callable[[RenderResult, float], None]


def main_module(script: Path) -> types.ModuleType:
    """A fresh ``__main__`` for ``script``, as ``python script.py`` makes it, but with a spec
    named ``__main__``, which multiprocessing's workers do not import."""
    path = str(script.resolve())
    module = types.ModuleType("__main__")
    loader = importlib.machinery.SourceFileLoader("__main__", path)
    module.__file__ = path
    module.__loader__ = loader
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    module.__spec__ = importlib.machinery.ModuleSpec("__main__", loader, origin=path)
    return module


@contextlib.contextmanager
def _as_main(script: Path, args: Sequence[str]) -> Iterator[types.ModuleType]:
    """``sys.modules['__main__']``, ``sys.argv`` and ``sys.path[0]`` as for ``python script``."""
    module = main_module(script)
    saved_main = sys.modules.get("__main__")
    saved_argv = list(sys.argv)
    saved_path0 = sys.path[0] if sys.path else None
    sys.modules["__main__"] = module
    sys.argv = [str(script), *args]
    directory = str(script.resolve().parent)
    if sys.path:
        sys.path[0] = directory
    else:
        sys.path.insert(0, directory)
    try:
        yield module
    finally:
        if saved_main is not None:
            sys.modules["__main__"] = saved_main
        sys.argv = saved_argv
        if saved_path0 is not None and sys.path:
            sys.path[0] = saved_path0


@contextlib.contextmanager
def rendering_writes(extras: Mapping[str, Any], announce: Announce) -> Iterator[list[RenderResult]]:
    """``VideoClip.write_videofile`` renders through :func:`write_videofile` (with ``extras``,
    renderbench's keyword options) in the block; yields the results, in order."""
    from moviepy.video.VideoClip import VideoClip

    results: list[RenderResult] = []
    original = VideoClip.__dict__["write_videofile"]

    def parallel_write_videofile(self: Any, filename: Any, *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        result = write_videofile(self, filename, *args, **{**extras, **kwargs})
        results.append(result)
        announce(result, time.perf_counter() - started)

    parallel_write_videofile.__doc__ = original.__doc__
    VideoClip.write_videofile = parallel_write_videofile
    try:
        yield results
    finally:
        VideoClip.write_videofile = original


def run_script(
    script: Path, args: Sequence[str], extras: Mapping[str, Any], announce: Announce
) -> list[RenderResult]:
    """Run ``script`` with ``args`` as ``python`` would, its videos rendered by renderbench;
    returns what each ``write_videofile`` call rendered.

    Exceptions from the script propagate as they are (``SystemExit`` included).
    """
    if not script.is_file():
        raise InvalidSource(f"cannot open file {str(script)!r}: no such file")
    code = compile(script.read_bytes(), str(script.resolve()), "exec")
    with rendering_writes(extras, announce) as results, _as_main(script, args) as module:
        exec(code, module.__dict__)
    return results
