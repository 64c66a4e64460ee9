"""Running scene tasks side by side, and turning their outcomes into one result.

Each task is a manim subprocess, so threads are enough to keep ``workers`` of them busy (no
process pool: manim already runs in its own process). Failures do not stop the other tasks;
a task killed by a signal it did not get from us (a transient failure) is retried up to
``retries`` times, a manim error (an exception in the scene) never is. If the parent is
interrupted while waiting, every manim process of the render is killed before it returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impls.ffmpeg.files import atomic_output
from impls.errors import SceneFailed, ScenesFailed, SceneTimeout
from impls.manim import cli
from impls.manim.assemble import SceneClip, assemble
from impls.manim.preflight import ManimPlan
from impls.model.protocol import RenderJob, RenderResult


@dataclass
class Outcome:
    """How one task ended: its video, or its error; ``retries`` spent on transient failures."""

    index: int
    task: cli.SceneTask
    video: cli.SceneVideo | None = None
    error: SceneFailed | None = None
    retries: int = 0


def _transient(error: SceneFailed, run_id: str) -> bool:
    # Killed by a signal that was neither our timeout nor our cancellation: e.g. the OOM killer
    # or an operator's kill. An exception in the scene exits with a status and is deterministic.
    return (
        error.returncode is not None
        and error.returncode < 0
        and not isinstance(error, SceneTimeout)
        and not cli.is_cancelled(run_id)
    )


def attempt(index: int, task: cli.SceneTask, retries: int) -> Outcome:
    """Render ``task``, retrying transient failures up to ``retries`` times; never raises
    :class:`SceneFailed` (the outcome holds it)."""
    spent = 0
    while True:
        try:
            return Outcome(index, task, video=cli.render_scene(task), retries=spent)
        except SceneFailed as error:
            if spent < retries and _transient(error, task.run_id):
                spent += 1
                continue
            return Outcome(index, task, error=error, retries=spent)


def run_tasks(
    tasks: Sequence[cli.SceneTask], workers: int, run_id: str, retries: int
) -> Iterator[Outcome]:
    """Run ``tasks`` on ``workers`` threads, yielding outcomes as they finish.

    Tasks start in the given order. Leaving early (an exception, Ctrl-C, closing the
    iterator) cancels the tasks not started and kills the running manim processes.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="manim-scene")
    futures: list[Future[Outcome]] = []
    finished = False
    try:
        futures = [pool.submit(attempt, index, task, retries) for index, task in enumerate(tasks)]
        for future in as_completed(futures):
            yield future.result()
        finished = True
    finally:
        if not finished:
            for future in futures:
                future.cancel()
            cli.cancel_run(run_id)
        pool.shutdown(wait=True, cancel_futures=True)


def finish(
    job: RenderJob,
    plan: ManimPlan,
    renderer: str,
    started: float,
    clips: dict[int, SceneClip],
    failures: dict[int, SceneFailed],
    workdir: Path,
    *,
    stages: dict[str, float] | None = None,
    retries: int = 0,
    info: dict[str, Any] | None = None,
) -> RenderResult:
    """Apply the partial-success policy, assemble the clips and describe the result.

    Default: any failure raises :class:`ScenesFailed` naming every failed scene, and no
    output is written. With ``options["partial"]`` the successful scenes are written and the
    failures listed in ``result.failures`` (all scenes failing still raises).
    """
    failed = {plan.scenes[index]: error for index, error in sorted(failures.items())}
    rendered = [plan.scenes[index] for index in sorted(clips)]
    if failed and (not plan.partial or not clips):
        raise ScenesFailed(failed, rendered)
    stages = dict(stages or {})
    with atomic_output(job.output) as tmp:
        assembled = assemble(
            [clips[index] for index in sorted(clips)], plan, job.encoder, tmp, workdir
        )
    stages.update(assembled.stages)
    return RenderResult(
        output=job.output,
        renderer=renderer,
        frames=assembled.frames,
        duration=assembled.duration,
        fps=assembled.rate,
        wall=time.perf_counter() - started,
        stages=stages,
        retries=retries,
        failures={scene: str(error) for scene, error in failed.items()},
        info={
            "scenes": assembled.scenes,
            "reencoded_concat": assembled.reencoded,
            "audio": assembled.audio,
            **(info or {}),
        },
    )


def report_progress(job: RenderJob) -> Callable[[int], None]:
    """The job's progress callback, or a no-op."""
    return job.progress if job.progress is not None else (lambda frames: None)
