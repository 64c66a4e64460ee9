"""``manim-scenes``: one manim process per scene, ``workers`` at a time, then one output.

Each scene renders in its own process with its own media directory (manim's partial-movie and
Tex directories are not safe to share), under a per-scene timeout (``job.timeout``, default
10 minutes). On an executor whose workers run here, the processes are started from threads of
this process; on a remote one (Dask) each scene renders on a worker: the script travels as
bytes and the scene video comes back as bytes (:mod:`impls.manim.remote`). The assembly
happens here either way.

Options (``job.options``): ``partial`` (default False): write the scenes that rendered even if
others failed, listing the failures in ``result.failures``; ``python``: the interpreter whose
manim runs the scenes (default: this one; on a remote executor, each worker's own).
"""

from __future__ import annotations

from pathlib import Path

from impls.manim.assemble import clip_from_files
from impls.manim.preflight import ManimOptions
from impls.manim.render import ManimRenderer, SceneRun


def render_each_scene(run: SceneRun[ManimOptions], workers: int) -> None:
    """Every scene in a manim process of its own, ``workers`` at a time."""
    scenes = run.plan.scenes
    tasks = [run.task(scene, f"scene-{index:04d}.mp4") for index, scene in enumerate(scenes)]
    with run.stage("render"):
        for outcome in run.run_tasks(tasks, workers):
            if outcome.error is not None:
                run.fail(outcome.index, outcome.error)
                continue
            assert outcome.video is not None and outcome.video.path is not None
            run.add(outcome.index, clip_from_files(outcome.task.scene, [Path(outcome.video.path)]))
    run.info.update(workers=workers, executor=run.job.executor)


class Scenes:
    name = "manim-scenes"
    options = ManimOptions
    remote = True

    def unavailable_reason(self, python: str) -> str | None:
        return None

    def render_scenes(self, run: SceneRun[ManimOptions]) -> None:
        render_each_scene(run, run.plan.workers)


renderer = ManimRenderer(Scenes())
