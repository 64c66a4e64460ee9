"""Where parallel work runs: one ``concurrent.futures.Executor`` per render, and its teardown.

Every parallel renderer gets its workers from :func:`pool_opener`, so the choice of engine is
made in one place:

- ``executor="local"`` (default): a :class:`~concurrent.futures.ProcessPoolExecutor` started
  with ``forkserver`` (Linux default) or ``spawn``; ``job.options["start_method"]`` or
  ``$RENDERBENCH_START_METHOD`` choose. ``fork`` is refused: a forked worker inherits the
  parent's threads and locks (stderr drainers, executor threads) mid-state.
- ``executor="dask"``: a Dask distributed cluster through ``Client(...).get_executor()``,
  which speaks the same ``concurrent.futures`` API: a private ``LocalCluster`` of ``workers``
  processes, or the scheduler at ``job.dask_address`` (:mod:`impls.runtime.dask`, imported only
  then: Dask is an optional extra).

A :class:`WorkerPool` is an executor plus the means to stop it for good. ``close()`` is the
normal end; ``kill()`` the end after a failure: it never waits for running work and leaves no
worker (or worker's child, such as a chunk's ffmpeg) alive.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import psutil

from impls.errors import InvalidJob

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from impls.model.protocol import RenderJob

R = TypeVar("R")

START_METHOD_ENV = "RENDERBENCH_START_METHOD"
START_METHODS = ("forkserver", "spawn")

#: Imported once by the forkserver, so each worker forked from it starts with them loaded
#: (MoviePy alone takes ~0.4 s to import).
_FORKSERVER_PRELOAD = ["numpy", "moviepy", "impls.moviepy.worker"]

#: How often a worker checks that the process that started the pool is still alive.
_PARENT_CHECK_S = 1.0

#: How long _culprits() waits for a broken executor to finish joining its workers (it
#: terminates the survivors first, so this is normally a few milliseconds).
_MANAGER_JOIN_S = 5.0


class WorkerPool(Protocol):
    """An executor for one render and the means to end it."""

    @property
    def executor(self) -> Executor: ...

    @property
    def workers(self) -> int: ...

    @property
    def description(self) -> str:
        """E.g. ``local process pool (forkserver, 2 workers)``."""
        ...

    def submit(self, fn: Callable[..., R], /, *args: Any) -> Future[R]:
        """``executor.submit``, plus whatever bookkeeping the pool needs."""
        ...

    @property
    def reschedules_lost_work(self) -> bool:
        """Whether the engine itself reruns a lost worker's tasks (Dask does, up to its
        ``allowed-failures``): then a loss reported on a future is final, never retried again."""
        ...

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

    def close(self) -> None:
        """Normal end: wait for the workers to exit."""
        ...

    def kill(self) -> None:
        """End after a failure: cancel queued work, kill every worker and its children now."""
        ...


PoolOpener = Callable[[], WorkerPool]


def default_start_method() -> str:
    # forkserver: workers fork from a small clean server that already imported MoviePy, so
    # they start fast and inherit no threads; spawn elsewhere (macOS, Windows).
    if sys.platform.startswith("linux") and "forkserver" in multiprocessing.get_all_start_methods():
        return "forkserver"
    return "spawn"


def start_method(job: RenderJob) -> str:
    """The start method for ``job``'s local workers (option, then environment, then default)."""
    requested = job.options.get("start_method") or os.environ.get(START_METHOD_ENV)
    if not requested:
        return default_start_method()
    method = str(requested)
    if method == "fork":
        raise InvalidJob(
            "start_method 'fork' is not supported: a forked worker inherits the parent's "
            "threads and locks mid-state; use 'forkserver' or 'spawn'"
        )
    if method not in START_METHODS or method not in multiprocessing.get_all_start_methods():
        raise InvalidJob(
            f"unknown start_method {method!r}; use one of "
            f"{', '.join(m for m in START_METHODS if m in multiprocessing.get_all_start_methods())}"
        )
    return method


def pool_opener(job: RenderJob, workers: int) -> PoolOpener:
    """Check the job's executor choice now (before anything starts); return a pool factory.

    Each call of the factory opens a fresh pool: a pool whose worker died is broken for good,
    so a retry needs a new one.
    """
    if job.executor == "local":
        method = start_method(job)
        parent = os.getpid()
        return lambda: LocalPool(workers, method, parent)
    if job.executor == "dask":
        from impls.runtime.dask import DaskPools

        return DaskPools(job, workers)
    raise InvalidJob(f"executor must be 'local' or 'dask', got {job.executor!r}")


def open_ahead(opener: PoolOpener) -> None:
    """Let an opener whose pool is slow to start (a Dask cluster) start it now, in the
    background; the pool is taken by the opener's next call."""
    start = getattr(opener, "open_ahead", None)
    if callable(start):
        start()


def discard_unused(opener: PoolOpener) -> None:
    """Close a pool opened ahead that was never taken (the render failed before its tasks)."""
    discard = getattr(opener, "discard_unused", None)
    if callable(discard):
        discard()


class _TaskBoard:
    """Which task each local worker is running, in memory shared with the pool.

    ProcessPoolExecutor does not say which worker ran which task, and once one dies every
    unfinished future fails alike; guessing from submission order named a frame the dead
    worker had already finished. Each worker claims a row at start and writes ``(pid, task)``
    into it around each task, so after a death the parent reads what the dead pid was doing.
    Handed to each worker through the pool's initializer (shared memory travels that way).
    """

    IDLE = -1

    def __init__(self, context: Any, workers: int) -> None:
        self.workers = workers
        # Each row is written by one process only, and read by the parent after that process
        # died: no lock needed. The claim counter has one.
        self.cells = context.RawArray("q", [0, self.IDLE] * workers)
        self.claimed = context.Value("i", 0)
        self.row = -1  # in a worker: its row (-1: none)

    def claim(self) -> None:
        """In a worker, once: take the next free row."""
        with self.claimed.get_lock():
            row = self.claimed.value
            self.claimed.value += 1
        if row < self.workers:  # a replacement worker (none in this pool today) goes untracked
            self.cells[2 * row] = os.getpid()
            self.row = row

    def note(self, task: int) -> None:
        """In a worker: ``task`` is running now (``IDLE``: nothing)."""
        if self.row >= 0:
            self.cells[2 * self.row + 1] = task

    def running(self) -> dict[int, int]:
        """pid -> the task it was running, for every worker that had claimed a row."""
        cells = self.cells
        return {
            cells[2 * row]: cells[2 * row + 1]
            for row in range(self.workers)
            if cells[2 * row] and cells[2 * row + 1] != self.IDLE
        }


#: In a local worker: its pool's task board.
_board: _TaskBoard | None = None


def run_noted(task: int, fn: Callable[..., R], /, *args: Any) -> R:
    """Run ``fn(*args)`` in a local worker with ``task`` written on the pool's task board."""
    board = _board
    if board is not None:
        board.note(task)
    try:
        return fn(*args)
    finally:
        if board is not None:
            board.note(_TaskBoard.IDLE)


def worker_init(parent_pid: int, parent_started: float, board: _TaskBoard | None = None) -> None:
    """Run once in every local worker, before its first task.

    Ctrl-C is the parent's to handle (it tears the pool down): workers ignore SIGINT instead of
    each failing its task with KeyboardInterrupt, and leave the terminal's process group, so
    that the processes they start (MoviePy's readers, a chunk's ffmpeg) do not take the
    terminal's SIGINT either (ffmpeg installs its own handler and would die mid-render). A
    daemon thread ends the worker when the parent is gone: a worker of a SIGKILLed parent
    would otherwise wait for work forever.
    ``board`` is the pool's task board (see :func:`run_noted`).
    """
    global _board
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):  # already a group leader
        os.setpgid(0, 0)
    if board is not None:
        board.claim()
        _board = board

    def watch() -> None:
        while True:
            time.sleep(_PARENT_CHECK_S)
            try:
                alive = psutil.Process(parent_pid).create_time() == parent_started
            except psutil.Error:
                alive = False
            if not alive:
                os._exit(1)

    threading.Thread(target=watch, name="renderbench-parent-watch", daemon=True).start()


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by signal {-code} ({signal.Signals(-code).name})"
        return f"killed by signal {-code}"
    return f"exited with status {code}"


def _wait_dead(procs: list[psutil.Process], timeout: float) -> None:
    """Wait until ``procs`` are dead: gone, or zombies.

    A killed worker's ffmpeg is re-parented to init, which reaps it when it likes (in some
    containers never): psutil.wait_procs would wait out its whole timeout on the zombie.
    """
    deadline = time.monotonic() + timeout
    waiting = list(procs)
    while waiting and time.monotonic() < deadline:
        still = []
        for proc in waiting:
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    still.append(proc)
            except psutil.Error:
                continue
        waiting = still
        if waiting:
            time.sleep(0.02)


class LocalPool:
    """A process pool on this machine."""

    #: A dead worker breaks the whole pool: the dispatcher retries on a fresh one.
    reschedules_lost_work = False

    def __init__(self, workers: int, method: str, parent_pid: int | None = None) -> None:
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            # Global to the forkserver, and only read when it starts: harmless to repeat.
            context.set_forkserver_preload(_FORKSERVER_PRELOAD)
        parent_pid = os.getpid() if parent_pid is None else parent_pid
        self.workers = workers
        self.method = method
        self._board = _TaskBoard(context, workers)
        self.executor: ProcessPoolExecutor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=worker_init,
            initargs=(parent_pid, psutil.Process(parent_pid).create_time(), self._board),
        )
        self._known: dict[int, BaseProcess] = {}
        self._task_ids = itertools.count()
        self._unfinished: dict[int, Future[Any]] = {}  # task number -> its future

    @property
    def description(self) -> str:
        return f"local process pool ({self.method}, {self.workers} workers)"

    def _processes(self) -> dict[int, BaseProcess]:
        # ProcessPoolExecutor has no public way to reach its workers, and shutdown() neither
        # stops a running task nor kills a worker: a hung frame would keep its process alive.
        # `_processes` (pid -> Process, in CPython since 3.2) is the only handle; remembering
        # every worker seen also lets loss_detail() report a dead one's exit status after the
        # executor has dropped it.
        current = getattr(self.executor, "_processes", None) or {}
        self._known.update(current)
        return dict(self._known)

    def submit(self, fn: Callable[..., R], /, *args: Any) -> Future[R]:
        task = next(self._task_ids)
        future = self.executor.submit(run_noted, task, fn, *args)
        self._unfinished[task] = future
        future.add_done_callback(partial(self._forget, task))
        if len(self._known) < self.workers:  # workers are spawned on demand, by submit
            known = len(self._known)
            if len(self._processes()) > known:
                # CPython (3.11) wakes the executor's manager thread *before* submit spawns
                # the new worker, so the thread may wait on the older workers' sentinels only:
                # a SIGKILL of the newest worker then goes unnoticed until another worker
                # returns a result (measured: the whole length of the other chunks). One more
                # wake-up makes it watch every worker.
                wakeup = getattr(self.executor, "_executor_manager_thread_wakeup", None)
                if wakeup is not None:
                    wakeup.wakeup()
        return future

    def is_worker_loss(self, error: BaseException) -> bool:
        return isinstance(error, BrokenProcessPool)

    def _forget(self, task: int, future: Future[Any]) -> None:
        # Failed futures stay: lost_futures() looks them up after the pool broke.
        if not future.cancelled() and future.exception() is None:
            self._unfinished.pop(task, None)

    def _culprits(self) -> dict[int, int]:
        """pid -> exit code of the workers that died on their own (not terminated by the pool)."""
        # The executor fails the futures *before* its manager thread joins the workers. Two
        # threads joining one forkserver worker race to read its exit status from the same
        # pipe, and the loser records 255 ("the forkserver died"): a SIGKILLed worker was then
        # reported as "exited with status 255". Once the manager thread is done every exit
        # status is settled, and join() below only reads it.
        manager = getattr(self.executor, "_executor_manager_thread", None)
        if manager is not None and manager is not threading.current_thread():
            manager.join(timeout=_MANAGER_JOIN_S)
        dead: dict[int, int] = {}
        for pid, process in self._processes().items():
            process.join(timeout=0.5)
            if process.exitcode not in (None, 0):
                dead[pid] = process.exitcode
        # Once one worker dies, the executor SIGTERMs the others: those are not the news.
        return {pid: code for pid, code in dead.items() if code != -signal.SIGTERM} or dead

    def loss_detail(self) -> str:
        described = [f"pid {pid} {_describe_exit(code)}" for pid, code in self._culprits().items()]
        return ", ".join(described) or "a worker process exited abruptly"

    def lost_futures(self) -> set[Future[Any]]:
        culprits = self._culprits()
        return {
            self._unfinished[task]
            for pid, task in self._board.running().items()
            if pid in culprits and task in self._unfinished
        }

    def close(self) -> None:
        self.executor.shutdown(wait=True)

    def kill(self) -> None:
        processes = self._processes()
        # Children first found, then everything killed at once: a chunk worker's ffmpeg would
        # otherwise outlive its worker (it only stops when its stdin reaches EOF).
        doomed: list[psutil.Process] = []
        for pid in processes:
            with contextlib.suppress(psutil.Error):
                worker = psutil.Process(pid)
                doomed += worker.children(recursive=True)
                doomed.append(worker)
        self.executor.shutdown(wait=False, cancel_futures=True)
        for proc in doomed:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        _wait_dead(doomed, timeout=5)
        for process in processes.values():
            process.join(timeout=5)
