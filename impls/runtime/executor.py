"""Executors by name: where the work of a render runs, and what each one can do.

A render names its executor (``RenderJob.executor``); :func:`open_executor` turns the name into
an :class:`Executor` for that render, which opens :class:`WorkerPool` s on demand (a pool
whose worker died is broken for good, so a retry opens a fresh one). Renderers never compare
names: they ask the executor's :class:`Capabilities`.

Built in: ``local`` (a process pool on this machine, :mod:`impls.runtime.local`) and ``dask``
(a Dask cluster, :mod:`impls.runtime.dask`, imported only when used). Another engine (Ray, a
batch scheduler) is one module with one class, added with :func:`register_executor`. An
executor whose workers do not share this process's filesystem can also hold data for them
(:class:`Publisher`).
"""

from __future__ import annotations

import enum
import importlib
import os
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from impls.errors import InvalidJob

R = TypeVar("R")


class Forgetting(enum.Enum):
    """How a worker forgets the state a render left in it (a clip it built)."""

    WITH_PROCESSES = "the worker processes end with their pool, and the state with them"
    BY_CALL = "workers outlive the render: the pool runs the render's forget call on each"


class Killing(enum.Enum):
    """What :meth:`WorkerPool.kill` can stop."""

    PROCESS_TREES = "every worker process and its children are killed at once"
    QUEUED_WORK = "work not started is cancelled; a running task runs to its end"


@dataclass(frozen=True)
class Capabilities:
    """What an executor's workers share with the rendering process, and what its engine does."""

    #: Workers may run on other machines: a task carries its inputs and returns its outputs.
    remote: bool
    #: Workers can attach this process's shared memory blocks.
    shares_memory: bool
    #: Workers see this process's scratch directory at the same path.
    shares_filesystem: bool
    #: The engine reruns a lost worker's tasks itself: a loss it reports is final.
    reschedules_lost_work: bool
    #: Opening a pool takes seconds: it is started while the render prepares.
    opens_ahead: bool
    forgets: Forgetting
    kills: Killing
    #: Workers run on this machine, sharing its cores with this process and with each other
    #: (a render may then divide the cores among them). False where that is not known.
    shares_cores: bool = False


class WorkerPool(Protocol):
    """Workers for one stretch of a render: submit tasks, learn about lost workers, end it.

    ``close()`` is the normal end; ``kill()`` the end after a failure: it never waits for
    running work, and leaves no worker (nor a worker's child, such as a chunk's ffmpeg) alive
    where the executor's :attr:`Capabilities.kills` allows.
    """

    @property
    def workers(self) -> int: ...

    @property
    def description(self) -> str:
        """E.g. ``local process pool (forkserver, 2 workers)``."""
        ...

    def submit(self, fn: Callable[..., R], /, *args: Any) -> Future[R]: ...

    def is_worker_loss(self, error: BaseException) -> bool:
        """Whether ``error`` (from a future) means a worker died: transient, worth a retry."""
        ...

    def loss_detail(self) -> str:
        """What is known about the lost worker(s), e.g. ``pid 4242 killed by signal 9``."""
        ...

    def lost_futures(self) -> set[Future[Any]]:
        """The futures whose worker died while running them, where the pool can tell (empty
        where it cannot: the caller then estimates)."""
        ...

    def close(self) -> None: ...

    def kill(self) -> None: ...


@dataclass(frozen=True)
class Published:
    """What holding one datum for a render's workers cost (:class:`Publisher`)."""

    #: Seconds spent handing it to the workers' engine, summed over the pools that held it.
    send_s: float = 0.0
    #: Seconds each use of it on a worker took, fetching included (one per worker and pool).
    use_s: tuple[float, ...] = ()


@dataclass(frozen=True)
class Report:
    """What an executor tells about a finished render: entries for the result's ``info``, the
    tasks its engine ran again after losing their worker (task -> why), and what the data it
    published cost (name -> :class:`Published`)."""

    info: dict[str, Any] = field(default_factory=dict)
    rescheduled: dict[str, str] = field(default_factory=dict)
    published: dict[str, Published] = field(default_factory=dict)


class Executor(Protocol):
    """The workers of one render: fresh pools on demand, and what the engine can do."""

    capabilities: Capabilities

    def worker_scratch(self) -> str | None:
        """Run by a task on its worker: where it may keep scratch files, a directory the engine
        removes even when the worker is killed (None: the system's temporary directory). Tasks
        are handed it, so it is a static method (a plain function, pickled by reference)."""
        ...

    def open(self) -> WorkerPool:
        """A fresh pool (its workers may start lazily)."""
        ...

    def open_ahead(self) -> None:
        """Start opening the first pool now, in the background, where that takes seconds; the
        next :meth:`open` takes it."""
        ...

    def close(self) -> None:
        """The render is over: close a pool opened ahead that nobody took."""
        ...

    def report(self) -> Report: ...


@runtime_checkable
class Publisher(Protocol):
    """An executor that holds data for its workers, for data too large to travel with every task
    (a pickled clip): sent once per pool, fetched once per worker. Where the workers share this
    process's filesystem (:attr:`Capabilities.shares_filesystem`) a file does the same."""

    def publish(self, name: str, data: bytes) -> None:
        """Hold ``data`` under ``name`` in the pools opened from now on, until each one ends."""
        ...

    def use_published(self, name: str, use: Callable[[bytes], R]) -> R:
        """Run by a task on its worker: ``use(data)`` of the data published under ``name``, timed
        for :attr:`Report.published`. Tasks are handed it, so it is a static method (see
        :meth:`Executor.worker_scratch`)."""
        ...


def publisher(executor: Executor) -> Publisher:
    """``executor`` as a :class:`Publisher`; :class:`InvalidJob` when it cannot hold data."""
    if not isinstance(executor, Publisher):
        raise InvalidJob(
            f"the workers of {type(executor).__name__} neither see this process's files nor "
            "can be sent data once: render a clip factory ('pkg.module:function'), which every "
            "worker builds itself"
        )
    return executor


@dataclass(frozen=True)
class Settings:
    """What a render asks of its executor."""

    workers: int
    #: A running cluster's scheduler to use (None: the executor starts its own workers).
    address: str | None = None
    #: Times a task lost with its worker is tried again (an engine that reschedules uses it).
    retries: int = 1
    #: How local worker processes start: forkserver or spawn (None: the default).
    start_method: str | None = None
    #: Modules a fresh worker process imports before its first task.
    preload: tuple[str, ...] = ()
    #: Run on every worker when the render is over, where workers outlive it (:class:`Forgetting`).
    forget: Callable[[], object] | None = None
    #: The engine's own credentials for ``address`` (Dask: a ``distributed.Security``), or None.
    security: Any = None


class ExecutorType(Protocol):
    """What the registry holds: a class (or factory) whose instances serve one render each."""

    name: str
    capabilities: Capabilities

    def unavailable_reason(self) -> str | None:
        """Why this executor cannot be used here (its engine is not installed), or None."""
        ...

    def __call__(self, settings: Settings) -> Executor:
        """An executor for one render; raises :class:`InvalidJob` for settings it cannot use,
        before anything starts."""
        ...


#: The executor a render uses unless it names another (left out of case ids and labels).
DEFAULT_EXECUTOR = "local"

_BUILTIN: dict[str, str] = {
    "local": "impls.runtime.local:LocalExecutor",
    "dask": "impls.runtime.dask:DaskExecutor",
}
_loaded: dict[str, ExecutorType] = {}


def executor_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys([*_BUILTIN, *_loaded]))


def executor_type(name: str) -> ExecutorType:
    """The executor registered as ``name``; :class:`InvalidJob` lists the known names."""
    if name not in _loaded:
        if name not in _BUILTIN:
            known = " or ".join(repr(n) for n in executor_names())
            raise InvalidJob(f"executor must be {known}, got {name!r}")
        module, _, attr = _BUILTIN[name].partition(":")
        _loaded[name] = getattr(importlib.import_module(module), attr)
    return _loaded[name]


def register_executor(kind: ExecutorType) -> None:
    """Add an executor (or replace one) under ``kind.name``."""
    _loaded[kind.name] = kind


def unregister_executor(name: str) -> None:
    """Forget a registered executor; a built-in one is loaded afresh when next asked for."""
    _loaded.pop(name, None)


def capabilities(name: str) -> Capabilities:
    return executor_type(name).capabilities


def unavailable_reason(name: str) -> str | None:
    return executor_type(name).unavailable_reason()


def open_executor(name: str, settings: Settings) -> Executor:
    """The executor ``name`` for one render (checked now: nothing starts until a pool opens)."""
    return executor_type(name)(settings)


def usable_cores() -> int:
    """Cores this process may run on (affinity-aware), the default worker count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def worker_count(requested: int | None) -> int:
    """The workers a render asked for, or every usable core."""
    return requested if requested is not None else usable_cores()
