"""The dispatcher on its own, with a fake executor: retries, timeouts, order and the window.

No process is started: tasks run on threads (tests/fake_pool.py), and each test plans what
each attempt of each task does.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import pytest

from impls.errors import FrameFailed, RenderFailed, SourceReadFailed, TaskTimeout, WorkerLost
from impls.runtime.dispatch import Dispatcher, Task
from tests.fake_pool import RESCHEDULING, FakeExecutor, after, dies, raises


def tasks(executor: FakeExecutor, count: int, frames: int = 1) -> list[Task[str]]:
    return [Task(f"frame {i}", executor.run, (f"frame {i}",), frames) for i in range(count)]


def run(dispatcher: Dispatcher[str], todo: Iterable[Task[str]], executor: FakeExecutor) -> list[str]:
    values = []
    with dispatcher:
        for task, value in dispatcher.run(todo):
            executor.consumed(task.label)
            values.append(value)
    return values


def test_ordered_results_come_in_submission_order() -> None:
    executor = FakeExecutor(workers=3, plan={"frame 0": [after(0.2)], "frame 1": [after(0.1)]})
    dispatcher: Dispatcher[str] = Dispatcher(executor, window=4, ordered=True)
    assert run(dispatcher, tasks(executor, 6), executor) == [f"frame {i}" for i in range(6)]
    assert executor.pools[0].closed and not executor.pools[0].killed


def test_unordered_results_come_as_they_finish() -> None:
    executor = FakeExecutor(workers=2, plan={"frame 0": [after(0.3)]})
    dispatcher: Dispatcher[str] = Dispatcher(executor, window=2)
    run(dispatcher, tasks(executor, 2), executor)
    consumed = [label for kind, label in executor.events if kind == "consumed"]
    assert consumed == ["frame 1", "frame 0"]


@pytest.mark.parametrize("window", [1, 3])
@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "unordered"])
def test_no_more_than_window_tasks_are_outstanding(window: int, ordered: bool) -> None:
    executor = FakeExecutor(workers=4)
    dispatcher: Dispatcher[str] = Dispatcher(executor, window=window, ordered=ordered)
    assert len(run(dispatcher, tasks(executor, 10), executor)) == 10
    assert executor.most_outstanding() == window


def test_progress_counts_each_finished_tasks_frames() -> None:
    executor = FakeExecutor()
    done: list[int] = []
    dispatcher: Dispatcher[str] = Dispatcher(executor, window=2, progress=done.append)
    run(dispatcher, tasks(executor, 3, frames=5), executor)
    assert done == [5, 5, 5]


def test_lost_worker_is_retried_on_a_fresh_pool() -> None:
    executor = FakeExecutor(plan={"frame 2": [dies]})
    dispatcher: Dispatcher[str] = Dispatcher(executor, window=3, ordered=True, retries=1)
    assert run(dispatcher, tasks(executor, 5), executor) == [f"frame {i}" for i in range(5)]
    first, second = executor.pools
    assert first.killed and second.closed and not second.killed
    assert dispatcher.retried == 1
    assert dispatcher.failures == {"frame 2": "worker lost (fake worker died); retried"}


def test_lost_worker_past_its_retries_is_worker_lost() -> None:
    executor = FakeExecutor(plan={"frame 1": [dies, dies]})
    dispatcher: Dispatcher[str] = Dispatcher(executor, window=2, retries=1)
    with pytest.raises(WorkerLost, match=r"worker process lost \(fake worker died\) while rendering frame 1; 2 attempts, retries=1"):
        run(dispatcher, tasks(executor, 3), executor)
    assert len(executor.pools) == 2 and all(pool.killed for pool in executor.pools)


def test_an_engine_that_reschedules_gets_no_second_retry() -> None:
    executor = FakeExecutor(capabilities=RESCHEDULING, plan={"frame 0": [dies]})
    dispatcher: Dispatcher[str] = Dispatcher(executor, window=2, retries=3)
    with pytest.raises(WorkerLost, match="while rendering frame 0; retries=3"):
        run(dispatcher, tasks(executor, 2), executor)
    assert len(executor.pools) == 1 and executor.pools[0].killed


def test_hung_task_times_out_and_the_pool_is_killed() -> None:
    executor = FakeExecutor()
    executor.plan["frame 1"] = [executor.hang]
    dispatcher: Dispatcher[str] = Dispatcher(executor, window=2, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(TaskTimeout, match=r"frame 1 did not finish within the 0.3 s timeout per task \(fake pool \(2 workers\)\)"):
        run(dispatcher, tasks(executor, 3), executor)
    assert time.monotonic() - started < 5
    assert executor.pools[0].killed


def test_dead_source_reader_is_retried_alone_on_the_same_pool() -> None:
    dead = SourceReadFailed("clip.mp4", "was killed by signal 9", wanted=100, got=10, where="frame 1")
    executor = FakeExecutor(plan={"frame 1": [raises(dead)]})
    dispatcher: Dispatcher[str] = Dispatcher(executor, window=3, ordered=True, retries=1)
    assert run(dispatcher, tasks(executor, 3), executor) == ["frame 0", "frame 1", "frame 2"]
    assert len(executor.pools) == 1 and executor.pools[0].closed
    assert dispatcher.retried == 1 and list(dispatcher.failures) == ["frame 1"]
    assert dispatcher.failures["frame 1"].endswith("; retried")
    submitted = [label for kind, label in executor.events if kind == "submitted"]
    assert submitted.count("frame 1") == 2 and submitted.count("frame 0") == 1


def test_dead_source_reader_past_its_retries_names_the_attempts() -> None:
    dead = SourceReadFailed("clip.mp4", "was killed by signal 9", wanted=100, got=10, where="frame 1")
    executor = FakeExecutor(plan={"frame 1": [raises(dead), raises(dead)]})
    dispatcher: Dispatcher[str] = Dispatcher(executor, window=2, retries=1)
    with pytest.raises(SourceReadFailed, match=r"while rendering frame 1, attempt 2 of 2"):
        run(dispatcher, tasks(executor, 2), executor)
    assert executor.pools[0].killed


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (FrameFailed(1, 0.04, "ZeroDivisionError: boom"), r"frame 1 \(t=0.040000s\) failed: ZeroDivisionError: boom"),
        (ValueError("bad value"), r"frame 1 failed: ValueError: bad value"),
    ],
    ids=["frame-failed", "other-error"],
)
def test_user_errors_are_never_retried(error: Exception, expected: str) -> None:
    executor = FakeExecutor(plan={"frame 1": [raises(error)]})
    dispatcher: Dispatcher[str] = Dispatcher(executor, window=3, retries=5)
    with pytest.raises(RenderFailed, match=expected):
        run(dispatcher, tasks(executor, 3), executor)
    submitted = [label for kind, label in executor.events if kind == "submitted"]
    assert submitted.count("frame 1") == 1 and dispatcher.retried == 0
    assert len(executor.pools) == 1 and executor.pools[0].killed
