"""Ending worker processes: whole trees at once, and a wait that zombies cannot hold up."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterable

import psutil


def describe_exit(code: int | None) -> str:
    """A process's exit status in words, e.g. ``killed by signal 9 (SIGKILL)``."""
    if code is None:
        return "still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by signal {-code} ({signal.Signals(-code).name})"
        return f"killed by signal {-code}"
    return f"exited with status {code}"


def trees(pids: Iterable[int]) -> list[psutil.Process]:
    """The processes ``pids`` and all their descendants, children first found.

    Taken before the workers are stopped: a worker's child (a chunk's ffmpeg) whose worker
    exits first is re-parented, and would no longer be found under it.
    """
    found: list[psutil.Process] = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            worker = psutil.Process(pid)
            found += worker.children(recursive=True)
            found.append(worker)
    return found


def kill_all(procs: Iterable[psutil.Process], timeout: float = 5.0) -> None:
    """SIGKILL ``procs`` at once and wait until they are dead (:func:`wait_dead`)."""
    doomed = list(procs)
    for proc in doomed:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    wait_dead(doomed, timeout)


def wait_dead(procs: Iterable[psutil.Process], timeout: float) -> None:
    """Wait until ``procs`` are dead: gone, or zombies.

    A killed worker's ffmpeg is re-parented to init, which reaps it when it likes (in some
    containers never): ``psutil.wait_procs`` would wait out its whole timeout on the zombie.
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
