"""``executor="local"``: a process pool on this machine, one per stretch of a render.

A :class:`~concurrent.futures.ProcessPoolExecutor` started with ``forkserver`` (Linux default)
or ``spawn``; ``start_method`` (a renderer option) or ``$RENDERBENCH_START_METHOD`` choose.
``fork`` is refused: a forked worker inherits the parent's threads and locks (stderr drainers,
executor threads) mid-state. A dead worker breaks the whole pool: the dispatcher retries on a
fresh one. ``kill()`` leaves no worker, nor a worker's child, alive.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import psutil

from impls.errors import InvalidJob
from impls.runtime.executor import Capabilities, Forgetting, Killing, Report, Settings
from impls.runtime.memory import MemoryWatch
from impls.runtime.processes import describe_exit, kill_all, trees

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

R = TypeVar("R")

START_METHOD_ENV = "RENDERBENCH_START_METHOD"
START_METHODS = ("forkserver", "spawn")

#: How often a worker checks that the process that started the pool is still alive.
_PARENT_CHECK_S = 1.0

#: How long _culprits() waits for a broken executor to finish joining its workers (it
#: terminates the survivors first, so this is normally a few milliseconds).
_MANAGER_JOIN_S = 5.0


def default_start_method() -> str:
    # forkserver: workers fork from a small clean server that already imported the preloaded
    # modules, so they start fast and inherit no threads; spawn elsewhere (macOS, Windows).
    if sys.platform.startswith("linux") and "forkserver" in multiprocessing.get_all_start_methods():
        return "forkserver"
    return "spawn"


def start_method(requested: str | None = None) -> str:
    """The start method for local workers (the request, then the environment, then the default)."""
    requested = requested or os.environ.get(START_METHOD_ENV)
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


class LocalExecutor:
    """Process pools on this machine for one render."""

    name = "local"
    capabilities = Capabilities(
        remote=False, shares_memory=True, shares_filesystem=True, reschedules_lost_work=False,
        opens_ahead=False, forgets=Forgetting.WITH_PROCESSES, kills=Killing.PROCESS_TREES,
        shares_cores=True,
    )  # fmt: skip

    def __init__(self, settings: Settings) -> None:
        self.method = start_method(settings.start_method)
        self.workers = settings.workers
        self.preload = settings.preload
        self.parent = os.getpid()

    @staticmethod
    def unavailable_reason() -> str | None:
        return None  # the standard library is all it needs

    worker_scratch = staticmethod(tempfile.gettempdir)  # a worker is a process of this machine

    def open(self) -> LocalPool:
        return LocalPool(self.workers, self.method, self.parent, self.preload)

    def open_ahead(self) -> None:
        """A local pool starts its workers with its first tasks: nothing to do ahead."""

    def close(self) -> None:
        """Every pool was closed or killed by whoever opened it."""

    def report(self) -> Report:
        return Report(info={"start_method": self.method})


class _TaskBoard:
    """Which task each local worker is running, in memory shared with the pool.

    ProcessPoolExecutor does not say which worker ran which task, and once one dies every
    unfinished future fails alike; submission order cannot tell either (the dead worker may
    have finished the older task). Each worker claims a row at start and writes ``(pid, task)``
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


class LocalPool:
    """A process pool on this machine; ``preload``: modules its forkserver imports once, so that
    each worker forked from it starts with them loaded."""

    def __init__(
        self, workers: int, method: str, parent_pid: int | None = None, preload: tuple[str, ...] = ()
    ) -> None:
        context = multiprocessing.get_context(method)
        if method == "forkserver" and preload:
            # Global to the forkserver, and only read when it starts: harmless to repeat.
            context.set_forkserver_preload(list(preload))
        parent_pid = os.getpid() if parent_pid is None else parent_pid
        self.workers = workers
        self.method = method
        self._board = _TaskBoard(context, workers)
        started = psutil.Process(parent_pid).create_time()
        self.executor: ProcessPoolExecutor = ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=worker_init,
            initargs=(parent_pid, started, self._board),
        )  # fmt: skip
        self._known: dict[int, BaseProcess] = {}
        self._task_ids = itertools.count()
        self._unfinished: dict[int, Future[Any]] = {}  # task number -> its future
        # What a worker killed by SIGKILL (the OOM killer's way) used just before.
        self._memory = MemoryWatch(self._worker_pids)

    def _worker_pids(self) -> list[int] | None:
        if getattr(self.executor, "_shutdown_thread", False):
            return None  # shut down: the watch ends
        return list(getattr(self.executor, "_processes", None) or {})

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
                # CPython wakes the executor's manager thread *before* submit spawns the new
                # worker, so the thread may wait on the older workers' sentinels only: a
                # SIGKILL of the newest worker would go unnoticed until another worker
                # returns a result. One more wake-up makes it watch every worker.
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
        # pipe, and the loser records 255 ("the forkserver died"), which would report a
        # SIGKILLed worker as "exited with status 255". Once the manager thread is done every
        # exit status is settled, and join() below only reads it.
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
        described = []
        for pid, code in self._culprits().items():
            text = f"pid {pid} {describe_exit(code)}"
            evidence = self._memory.evidence(pid) if code == -signal.SIGKILL else None
            described.append(f"{text}: {evidence}" if evidence else text)
        return ", ".join(described) or "a worker process exited abruptly"

    def lost_futures(self) -> set[Future[Any]]:
        culprits = self._culprits()
        return {
            self._unfinished[task]
            for pid, task in self._board.running().items()
            if pid in culprits and task in self._unfinished
        }

    def close(self) -> None:
        self._memory.stop()
        self.executor.shutdown(wait=True)

    def kill(self) -> None:
        self._memory.stop()
        processes = self._processes()
        doomed = trees(processes)  # before the shutdown: see processes.trees
        self.executor.shutdown(wait=False, cancel_futures=True)
        kill_all(doomed)
        for process in processes.values():
            process.join(timeout=5)
