"""``manim-scenes``: one manim process per scene, ``workers`` at a time, then one output.

Each scene renders in its own process with its own media directory (manim's partial-movie and
Tex directories are not safe to share), under a per-scene timeout (``job.timeout``, default
10 minutes). On an executor whose workers run here, the processes are started from threads of
this process; on a remote one (Dask) each scene renders on a worker: the script travels as
bytes and the scene video comes back as bytes (:mod:`impls.manim.remote`). The assembly
happens here either way.

Options (``job.options``): ``partial`` (default False): write the scenes that rendered even if
others failed, listing the failures in ``result.failures``; ``python``: the interpreter whose
manim runs the scenes (default: this one; on a remote executor, each worker's own);
``tex_cache`` (default True): the scenes' processes compile each Tex string once, through one
cache (:mod:`impls.manim.tex_cache`; on a remote executor each process keeps manim's own).
"""

from __future__ import annotations

from typing import TypeVar

from impls.manim.preflight import ManimOptions, ParallelOptions
from impls.manim.render import ManimRenderer, SceneRun

O = TypeVar("O", bound=ManimOptions)


def render_scenes(run: SceneRun[O], workers: int | None = None) -> None:
    """Every scene whole, ``workers`` at a time (default: the job's)."""
    workers = run.plan.workers if workers is None else workers
    with run.stages.timed("render"):
        run.render_whole(range(len(run.plan.scenes)), workers)
    run.info.update(workers=workers, executor=run.job.executor)


renderer = ManimRenderer("manim-scenes", ParallelOptions, render_scenes, remote=True)
