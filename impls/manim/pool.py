"""Running scene tasks side by side on threads of this process.

Each task is a manim subprocess, so threads are enough to keep ``workers`` of them busy (no
process pool: manim already runs in its own process). Failures do not stop the other tasks;
a task killed by a signal it did not get from us (a transient failure) is retried up to
``retries`` times, a manim error (an exception in the scene) never is. If the render is
interrupted while waiting, every manim process of the render is killed before it returns.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from impls.errors import SceneFailed, SceneTimeout
from impls.manim.cli import ManimProcesses, SceneTask, SceneVideo, render_scene


@dataclass
class Outcome:
    """How one task ended: its video, or its error; ``retries`` spent on transient failures."""

    index: int
    task: SceneTask
    video: SceneVideo | None = None
    error: SceneFailed | None = None
    retries: int = 0


def _transient(error: SceneFailed, processes: ManimProcesses) -> bool:
    # Killed by a signal that was neither our timeout nor our cancellation: e.g. the OOM killer
    # or an operator's kill. An exception in the scene exits with a status and is deterministic.
    return (
        error.returncode is not None
        and error.returncode < 0
        and not isinstance(error, SceneTimeout)
        and not processes.cancelled
    )


def attempt(index: int, task: SceneTask, retries: int, processes: ManimProcesses) -> Outcome:
    """Render ``task``, retrying transient failures up to ``retries`` times; never raises
    :class:`SceneFailed` (the outcome holds it)."""
    spent = 0
    while True:
        try:
            return Outcome(index, task, video=render_scene(task, processes), retries=spent)
        except SceneFailed as error:
            if spent < retries and _transient(error, processes):
                spent += 1
                continue
            return Outcome(index, task, error=error, retries=spent)


def run_tasks(
    tasks: Sequence[SceneTask], workers: int, processes: ManimProcesses, retries: int
) -> Iterator[Outcome]:
    """Run ``tasks`` on ``workers`` threads, yielding outcomes as they finish.

    Tasks start in the given order. Leaving early (an exception, Ctrl-C, closing the
    iterator) cancels the tasks not started and kills the running manim processes.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="manim-scene")
    futures: list[Future[Outcome]] = []
    finished = False
    try:
        futures = [
            pool.submit(attempt, index, task, retries, processes) for index, task in enumerate(tasks)
        ]
        for future in as_completed(futures):
            yield future.result()
        finished = True
    finally:
        if not finished:
            for future in futures:
                future.cancel()
            processes.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
