"""``manim-scenes``: one manim process per scene, ``workers`` at a time, then one output.

Each scene renders in its own process with its own media directory (manim's partial-movie and
Tex directories are not safe to share), under a per-scene timeout (``job.timeout``, default
10 minutes). Scenes with narration longer than their video hold their last frame; the scene
videos are joined without re-encoding and the audio track is built and muxed once
(:mod:`impls.manim.assemble`).

Options (``job.options``): ``partial`` (default False): write the scenes that rendered even if
others failed, listing the failures in ``result.failures``; ``python``: the interpreter whose
manim runs the scenes (default: this one; on Dask, each worker's own).

With ``executor="dask"`` each scene renders on a Dask worker: the script travels as bytes and
the scene video comes back as bytes (:mod:`impls.manim.remote`); the assembly happens here.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from impls.ffmpeg.files import scratch_dir
from impls.errors import SceneFailed
from impls.manim import cli, pool, remote
from impls.manim.assemble import SceneClip, clip_from_files, hold
from impls.manim.preflight import COMMON_OPTIONS, ManimPlan, local_only, prepare_manim_job
from impls.model.protocol import ManimSource, RenderJob, RenderResult, Source


class ManimScenesRenderer:
    """Scenes in parallel, one manim subprocess each."""

    name = "manim-scenes"
    options = COMMON_OPTIONS
    #: Executors this renderer runs its scenes on.
    executors: tuple[str, ...] = ("local", "dask")

    def supports(self, source: Source) -> bool:
        return isinstance(source, ManimSource) and self.unavailable_reason() is None

    def unavailable_reason(self) -> str | None:
        """Why this renderer cannot run here (``None`` when it can), for a harness to skip with."""
        if importlib.util.find_spec("manim") is None:
            return f"manim is not installed: {cli.MANIM_HINT}"
        return None

    def executor_reason(self, executor: str) -> str | None:
        """Why ``executor`` cannot run this renderer (None: it can)."""
        return None if executor in self.executors else local_only(self.name, executor)

    def workers(self, plan: ManimPlan) -> int:
        return plan.workers

    def render(self, job: RenderJob) -> RenderResult:
        started = time.perf_counter()
        plan = prepare_manim_job(job, self.options, self.executor_reason)
        progress = pool.report_progress(job)
        try:
            with scratch_dir("renderbench-manim-") as work:
                tasks = [
                    plan.task(scene, work / f"scene-{index:04d}.mp4", work)
                    for index, scene in enumerate(plan.scenes)
                ]
                clips: dict[int, SceneClip] = {}
                failures: dict[int, SceneFailed] = {}
                retries = 0
                render_started = time.perf_counter()
                if job.executor == "dask":
                    own_python = not job.options.get("python")
                    outcomes = remote.run_tasks(job, tasks, self.workers(plan), own_python)
                else:
                    outcomes = pool.run_tasks(tasks, self.workers(plan), plan.run_id, job.retries)
                for outcome in outcomes:
                    retries += outcome.retries
                    if outcome.video is None:
                        assert outcome.error is not None
                        failures[outcome.index] = outcome.error
                        continue
                    assert outcome.video.path is not None
                    clip = clip_from_files(outcome.task.scene, [Path(outcome.video.path)])
                    clips[outcome.index] = hold(clip, plan, job.encoder, work, str(outcome.index))
                    progress(clip.frames + (clip.held or 0))
                stages = {"render": time.perf_counter() - render_started}
                return pool.finish(
                    job, plan, self.name, started, clips, failures, work,
                    stages=stages, retries=retries,
                    info={"workers": self.workers(plan), "executor": job.executor},
                )  # fmt: skip
        finally:
            cli.forget_run(plan.run_id)
