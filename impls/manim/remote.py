"""Manim scenes on a remote executor's workers: the script travels as bytes, the scene video
comes back as bytes.

No shared filesystem is assumed. Each task carries the script's bytes and its file name; on
the worker it is written into a private directory (where the executor's engine removes it even
if the worker is killed), manim renders the scene there, and the video's bytes are returned.
Audio files never travel: the scenes are assembled (held frames, one audio track) on this
machine. A script that reads other files next to it (images, SVGs, modules) needs them at the
same place on every worker.

The interpreter that runs manim is the worker's own, unless ``options["python"]`` names one
(then it must exist on every worker). Retries follow the local rules: a manim process killed
by a signal it did not get from us is retried in the worker up to ``job.retries`` times; a
worker that dies is its engine's to reschedule, and a scene whose workers kept dying fails with
:class:`~impls.errors.SceneWorkerLost`.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, as_completed
from pathlib import Path

from impls.errors import SceneWorkerLost
from impls.ffmpeg.files import writing
from impls.manim.cli import ManimProcesses, SceneTask
from impls.manim.pool import Outcome, attempt
from impls.runtime.executor import Executor


def render_shipped(
    index: int, task: SceneTask, retries: int, script_name: str, script: bytes, own_python: bool,
    scratch: Callable[[], str | None],
) -> Outcome:  # fmt: skip
    """On a worker: write the script into a private directory (in ``scratch()``, the
    executor's ``worker_scratch``) and render ``task`` from it."""
    where = scratch() or tempfile.gettempdir()
    with writing(where, f"making a directory for scene {task.label}"):
        root = Path(tempfile.mkdtemp(prefix="renderbench-manim-", dir=where))
    try:
        copy = root / script_name
        with writing(copy, "writing the script on the worker"):
            copy.write_bytes(script)
        python = sys.executable if own_python else task.python
        # A client's Tex cache folder means nothing here: the scene keeps manim's own.
        here = dataclasses.replace(
            task, script=str(copy), dest=None, work_root=str(root), python=python, tex_cache=None
        )
        outcome = attempt(index, here, retries, ManimProcesses())
        outcome.task = task  # as the client knows it (its paths, its interpreter)
        return outcome
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_tasks(
    executor: Executor, tasks: Sequence[SceneTask], retries: int, own_python: bool
) -> Iterator[Outcome]:
    """Run ``tasks`` on ``executor``'s workers, yielding outcomes as they finish.

    Each video is written to its task's ``dest`` here. Leaving early (an exception, Ctrl-C,
    closing the iterator) kills the pool.
    """
    if not tasks:
        return
    script = Path(tasks[0].script)
    data = script.read_bytes()
    pool = executor.open()
    finished = False
    try:
        futures: dict[Future[Outcome], int] = {}
        for index, task in enumerate(tasks):
            future = pool.submit(
                render_shipped, index, task, retries, script.name, data, own_python,
                executor.worker_scratch,
            )  # fmt: skip
            futures[future] = index
        for future in as_completed(futures):
            index = futures[future]
            task = tasks[index]
            error = future.exception()
            if error is not None:
                if not pool.is_worker_loss(error):
                    raise error
                yield Outcome(
                    index,
                    task,
                    error=SceneWorkerLost(task.label, f"worker process lost ({pool.loss_detail()})"),
                )
                continue
            outcome = future.result()
            if outcome.video is not None and outcome.video.data is not None:
                assert task.dest is not None
                dest = Path(task.dest).with_suffix(outcome.video.suffix)
                with writing(dest, f"writing the video of scene {task.label}"):
                    dest.write_bytes(outcome.video.data)
                outcome.video = dataclasses.replace(outcome.video, path=str(dest), data=None)
            yield outcome
        finished = True
    finally:
        if finished:
            pool.close()
        else:
            pool.kill()
