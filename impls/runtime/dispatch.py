"""Submit, collect, retry, time out and tear down: the orchestration every parallel renderer uses.

A :class:`Dispatcher` runs :class:`Task` s on the pools of an
:class:`~impls.runtime.executor.Executor` and yields ``(task, value)`` pairs, either in
submission order (``ordered=True``: ``pipe`` writes frames in order) or as they finish. At
most ``window`` tasks are outstanding (submitted and not yet consumed): that bounds memory
(``pipe``'s frames in flight) and keeps what a lost worker takes down small.

Failures:

- a task whose worker died (the pool reports a worker loss) is resubmitted, with every other
  unfinished task, to a fresh pool, at most ``retries`` times per task; then
  :class:`WorkerLost` names the tasks that were running and the dead worker's exit status.
  ``retried`` counts the resubmissions (one per lost pool); ``failures`` records what was lost.
  An executor whose engine reschedules lost work itself (its capabilities say so) reports a
  loss only once it gave up: :class:`WorkerLost` at once.
- a task whose source reader died (:class:`SourceReadFailed`: the worker already dropped its
  clip, so the next attempt opens fresh readers) is resubmitted alone, to the same pool, at
  most ``retries`` times; then the error is raised, naming the file.
- any other error raised by a task (user code, ffmpeg) is raised as it is, never retried.
- a task running longer than ``timeout`` seconds raises :class:`TaskTimeout`.

Leaving the ``with`` block with an exception kills the pool (no worker survives); leaving it
normally closes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from impls.errors import RenderbenchError, RenderFailed, SourceReadFailed, TaskTimeout, WorkerLost
from impls.runtime.executor import Executor, WorkerPool

R = TypeVar("R")

#: How often the dispatcher wakes up to check timeouts when nothing finishes (seconds).
_MAX_POLL_S = 1.0


@dataclass(frozen=True)
class Task(Generic[R]):
    """One unit of work: ``fn(*args)`` in a worker; ``frames`` it completes (for progress)."""

    label: str
    fn: Callable[..., R]
    args: tuple[Any, ...]
    frames: int = 0


@dataclass
class _Entry(Generic[R]):
    seq: int
    task: Task[R]
    future: Future[R] | None = None
    attempts: int = 1
    started: float | None = None  # when it got a worker (best estimate, see _mark_started)


@dataclass
class Dispatcher(Generic[R]):
    """Runs tasks for one render; use as a context manager around :meth:`run`.

    ``retries``: how often a task lost with its worker (or its source reader) is tried again;
    ``timeout``: seconds a task may run; ``progress`` is called with each finished task's
    frames. After the run, :attr:`retried` counts the resubmissions and :attr:`failures` says
    what was lost.
    """

    executor: Executor
    window: int
    ordered: bool = False
    retries: int = 1
    timeout: float | None = None
    progress: Callable[[int], None] | None = None
    retried: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    _pool: WorkerPool | None = None

    def __enter__(self) -> Dispatcher[R]:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if exc_type is None:
            pool.close()
        else:
            pool.kill()

    @property
    def pool(self) -> WorkerPool:
        if self._pool is None:
            self._pool = self.executor.open()
        return self._pool

    def _submit(self, entry: _Entry[R]) -> None:
        pool = self.pool
        try:
            entry.future = pool.submit(entry.task.fn, *entry.task.args)
        except Exception as error:
            if not pool.is_worker_loss(error):
                raise
            # The pool broke before this submit: record the loss like one seen on a future.
            entry.future = Future()
            entry.future.set_exception(error)
        entry.started = None

    def run(self, tasks: Iterable[Task[R]]) -> Iterator[tuple[Task[R], R]]:
        """Yield each task with its value; the next task is submitted once one is consumed."""
        if self.window < 1:
            raise ValueError("window must be >= 1")
        source = iter(tasks)
        exhausted = False
        outstanding: dict[int, _Entry[R]] = {}  # submitted, not yet yielded (keeps order)
        finished: dict[int, R] = {}
        next_seq = 0  # next to submit
        next_out = 0  # next to yield, when ordered
        while True:
            while not exhausted and len(outstanding) < self.window:
                task = next(source, None)
                if task is None:
                    exhausted = True
                    break
                entry = _Entry(next_seq, task)
                outstanding[next_seq] = entry
                next_seq += 1
                self._submit(entry)
            ready = self._ready(outstanding, finished, next_out)
            if ready is not None:
                entry = outstanding.pop(ready)
                value = finished.pop(ready)
                if self.ordered:
                    next_out += 1
                yield entry.task, value
                continue
            if not outstanding:
                return
            self._collect(outstanding, finished)

    def _ready(self, outstanding: dict[int, _Entry[R]], finished: dict[int, R], next_out: int) -> int | None:
        if self.ordered:
            return next_out if next_out in finished else None
        return next(iter(finished), None)

    def _collect(self, outstanding: dict[int, _Entry[R]], finished: dict[int, R]) -> None:
        """Wait for at least one task to finish (or a timeout); harvest, retry or raise."""
        running = {e.future: e for e in outstanding.values() if e.seq not in finished and e.future}
        # Noted on every pass, not only for timeouts: when a worker dies, the tasks it may have
        # been running are those marked here (the pool does not say which worker ran what).
        self._mark_started(outstanding, finished, time.monotonic())
        poll = None
        if self.timeout is not None:
            poll = min(_MAX_POLL_S, self.timeout / 4)
        done, _ = wait(running, timeout=poll, return_when=FIRST_COMPLETED)
        lost: list[_Entry[R]] = []
        for future in done:
            entry = running[future]
            error = future.exception()
            if error is None:
                finished[entry.seq] = future.result()
                if self.progress is not None and entry.task.frames:
                    self.progress(entry.task.frames)
            elif self.pool.is_worker_loss(error):
                lost.append(entry)
            elif isinstance(error, SourceReadFailed):
                if entry.attempts > self.retries:
                    tried = f"attempt {entry.attempts} of {self.retries + 1}"
                    raise error.during(f"{error.where or entry.task.label}, {tried}")
                self.failures[entry.task.label] = f"{error}; retried"
                self.retried += 1
                entry.attempts += 1
                self._submit(entry)
            else:
                raise self._task_error(entry, error)
        if lost and self.executor.capabilities.reschedules_lost_work:
            # The engine already reran these tasks as often as it was allowed to.
            names = ", ".join(e.task.label for e in lost)
            raise WorkerLost(
                f"worker process lost ({self.pool.loss_detail()}) while rendering {names}; "
                f"retries={self.retries}"
            )
        if lost:
            self._recover(outstanding, finished)
        elif self.timeout is not None:
            self._check_timeouts(outstanding, finished)

    @staticmethod
    def _task_error(entry: _Entry[R], error: BaseException) -> BaseException:
        if isinstance(error, RenderbenchError):
            return error
        wrapped = RenderFailed(f"{entry.task.label} failed: {type(error).__name__}: {error}")
        wrapped.__cause__ = error
        return wrapped

    def _mark_started(self, outstanding: dict[int, _Entry[R]], finished: dict[int, R], now: float) -> None:
        # A future is "running" from the moment it enters the pool's call queue, which holds a
        # few more items than there are workers. The queue is FIFO, so of the running futures
        # the oldest `workers` ones are the ones really executing.
        pending = [
            e for e in outstanding.values()
            if e.seq not in finished and e.future is not None and e.future.running()
        ]  # fmt: skip
        for entry in pending[: self.pool.workers]:
            if entry.started is None:
                entry.started = now

    def _check_timeouts(self, outstanding: dict[int, _Entry[R]], finished: dict[int, R]) -> None:
        assert self.timeout is not None
        now = time.monotonic()
        self._mark_started(outstanding, finished, now)
        for entry in outstanding.values():
            if entry.started is not None and entry.seq not in finished:
                if now - entry.started > self.timeout:
                    raise TaskTimeout(
                        f"{entry.task.label} did not finish within the {self.timeout:g} s "
                        f"timeout per task ({self.pool.description}); the workers were stopped"
                    )

    def _recover(self, outstanding: dict[int, _Entry[R]], finished: dict[int, R]) -> None:
        """A worker died: keep what finished, resubmit the rest to a fresh pool (or give up)."""
        pool = self.pool
        detail = pool.loss_detail()
        known = pool.lost_futures()  # before kill(): it would make every worker a casualty
        self._mark_started(outstanding, finished, time.monotonic())
        pool.kill()
        self._pool = None
        victims: list[_Entry[R]] = []
        for entry in outstanding.values():
            if entry.seq in finished or entry.future is None:
                continue
            future = entry.future
            if future.done() and not future.cancelled() and future.exception() is None:
                finished[entry.seq] = future.result()  # finished before the pool broke
                if self.progress is not None and entry.task.frames:
                    self.progress(entry.task.frames)
                continue
            victims.append(entry)
        # Exact where the pool knows what the dead worker ran; else an estimate (see
        # _mark_started).
        running = (
            [e for e in victims if e.future in known]
            or [e for e in victims if e.started is not None]
            or victims
        )
        names = ", ".join(e.task.label for e in running)
        exhausted = [e for e in victims if e.attempts > self.retries]
        if exhausted:
            tried = exhausted[0].attempts
            raise WorkerLost(
                f"worker process lost ({detail}) while rendering {names}; "
                f"{tried} attempt{'s' if tried != 1 else ''}, retries={self.retries}"
            )
        for entry in running:
            self.failures[entry.task.label] = f"worker lost ({detail}); retried"
        self.retried += 1
        for entry in sorted(victims, key=lambda e: e.seq):
            entry.attempts += 1
            self._submit(entry)
