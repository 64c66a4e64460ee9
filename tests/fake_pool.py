"""A fake executor for the dispatcher's own tests: tasks run on threads here, and the test says
which attempt of which task loses its worker, hangs, or fails.

The dispatcher sees a :class:`~impls.runtime.executor.WorkerPool` like any other: a task whose
"worker died" fails with :class:`WorkerDied` (the fake's ``BrokenProcessPool``), which the pool
calls a worker loss. :attr:`FakeExecutor.events` records every submission and every value the
test consumed, in order, so the window can be checked after the fact.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from impls.runtime.executor import Capabilities, Forgetting, Killing, Report

R = TypeVar("R")

LOCAL_LIKE = Capabilities(
    remote=False,
    shares_memory=True,
    shares_filesystem=True,
    reschedules_lost_work=False,
    opens_ahead=False,
    forgets=Forgetting.WITH_PROCESSES,
    kills=Killing.PROCESS_TREES,
)
RESCHEDULING = replace(LOCAL_LIKE, remote=True, reschedules_lost_work=True)


class WorkerDied(Exception):
    """What a task's future fails with when its (fake) worker dies."""


Step = Callable[[], object]
"""What one attempt of a task does before returning its label: wait, or raise instead."""


@dataclass
class FakeExecutor:
    """Fake pools on demand; ``plan[label]`` lists what the task's attempts do, in order (an
    attempt past the list just returns the label)."""

    workers: int = 2
    capabilities: Capabilities = LOCAL_LIKE
    plan: dict[str, list[Step]] = field(default_factory=dict)
    pools: list[FakePool] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self) -> FakePool:
        pool = FakePool(self)
        self.pools.append(pool)
        return pool

    def open_ahead(self) -> None:
        pass

    def close(self) -> None:
        pass

    def report(self) -> Report:
        return Report()

    worker_scratch = staticmethod(tempfile.gettempdir)

    def run(self, label: str) -> str:
        """The task function: the next planned step of ``label``, then its label."""
        with self._lock:
            steps = self.plan.get(label)
            step = steps.pop(0) if steps else None
        if step is not None:
            step()
        return label

    def consumed(self, label: str) -> None:
        with self._lock:
            self.events.append(("consumed", label))

    def submitted(self, label: str) -> None:
        with self._lock:
            self.events.append(("submitted", label))

    def most_outstanding(self) -> int:
        """The most tasks submitted and not yet consumed at any time."""
        outstanding = most = 0
        for kind, _ in self.events:
            outstanding += 1 if kind == "submitted" else -1
            most = max(most, outstanding)
        return most

    def hang(self) -> None:
        """A step that waits until its pool is killed (a task that never finishes)."""
        self.released.wait(60)
        raise WorkerDied("killed while hanging")


def dies() -> None:
    raise WorkerDied("the worker process died")


def after(seconds: float) -> Step:
    """A step that takes ``seconds``."""
    return lambda: time.sleep(seconds)


def raises(error: BaseException) -> Step:
    def step() -> None:
        raise error

    return step


class FakePool:
    """One fake pool: ``workers`` threads; killed or closed once."""

    def __init__(self, owner: FakeExecutor) -> None:
        self.owner = owner
        self._threads = ThreadPoolExecutor(max_workers=owner.workers)
        self.lost: set[Future[Any]] = set()
        self.killed = False
        self.closed = False

    @property
    def workers(self) -> int:
        return self.owner.workers

    @property
    def description(self) -> str:
        return f"fake pool ({self.owner.workers} workers)"

    def submit(self, fn: Callable[..., R], /, *args: Any) -> Future[R]:
        self.owner.submitted(str(args[0]) if args else "")
        future = self._threads.submit(fn, *args)
        future.add_done_callback(self._note)
        return future

    def _note(self, future: Future[Any]) -> None:
        if not future.cancelled() and isinstance(future.exception(), WorkerDied):
            self.lost.add(future)

    def is_worker_loss(self, error: BaseException) -> bool:
        return isinstance(error, WorkerDied)

    def loss_detail(self) -> str:
        return "fake worker died"

    def lost_futures(self) -> set[Future[Any]]:
        return set(self.lost)

    def close(self) -> None:
        self.closed = True
        self._threads.shutdown(wait=True)

    def kill(self) -> None:
        self.killed = True
        self.owner.released.set()
        self._threads.shutdown(wait=False, cancel_futures=True)
