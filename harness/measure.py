"""What one render costs: wall time, CPU of the whole process tree, peak memory.

CPU is counted exactly, not sampled: at the end, this process's own CPU (``RUSAGE_SELF``),
plus everything its reaped children used (``RUSAGE_CHILDREN``, which also holds what *their*
reaped children used), plus what every still-living descendant used (its own time and its
reaped children's), minus the same for processes that already existed at the start. Each
process is counted exactly once whoever reaped it, so a worker or an ffmpeg that exits during
the run is included. Memory needs sampling: a thread adds up the RSS of the tree every few
hundred milliseconds and keeps the peak.

The monitor measures itself: the sampler thread's CPU and the start/stop snapshots are the
harness's overhead, reported beside the result (kept well under 2 % of wall time by stretching
the sampling interval when a sample is expensive). The sampler's CPU is not billed to the render.
"""

from __future__ import annotations

import glob
import resource
import threading
import time
from dataclasses import dataclass
from types import TracebackType

import psutil

from impls.runtime.executor import usable_cores

#: Key of a process across samples: pids are reused, (pid, start time) is not.
_Key = tuple[int, float]


@dataclass(frozen=True)
class Usage:
    """Resources one measured block used."""

    wall: float  # seconds
    cpu_seconds: float  # user + system of the whole tree, the monitor excluded
    cores: int
    peak_rss: int  # bytes, the largest sum of RSS over the tree seen by a sample
    samples: int
    overhead: float  # seconds the monitor itself spent (sampler CPU + start/stop snapshots)

    @property
    def cpu_util(self) -> float:
        """CPU used as a fraction of all cores over the wall time (1.0 = every core busy)."""
        if self.wall <= 0:
            return 0.0
        return self.cpu_seconds / (self.wall * self.cores)

    @property
    def overhead_fraction(self) -> float:
        return self.overhead / self.wall if self.wall > 0 else 0.0


def _cpu_total(times: psutil._common.pcputimes) -> float:  # type: ignore[name-defined]
    # children_* hold what this process's reaped children (recursively) used.
    return float(times.user + times.system + times.children_user + times.children_system)


def _rusage_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _child_pids_fast(pid: int) -> list[int] | None:
    """Children from /proc/PID/task/*/children (Linux): reads only this subtree's files."""
    files = glob.glob(f"/proc/{pid}/task/*/children")
    if not files:
        return None
    pids: list[int] = []
    for name in files:
        try:
            with open(name) as handle:
                pids += [int(x) for x in handle.read().split()]
        except (OSError, ValueError):
            continue
    return pids


class TreeMonitor:
    """Measure this process and all its descendants over a ``with`` block.

    ``interval`` is the shortest time between memory samples; ``budget`` the largest share of
    one core the sampler may use (the interval grows when a sample costs more).
    """

    def __init__(self, interval: float = 0.1, budget: float = 0.005, cores: int | None = None) -> None:
        self.interval = interval
        self.budget = budget
        self.cores = cores or usable_cores()
        self._me = psutil.Process()
        self._procs: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._peak_rss = 0
        self._samples = 0
        self._sampler_cpu = 0.0
        self._snapshot_time = 0.0
        self._start_wall = 0.0
        self._start_self = 0.0
        self._start_children = 0.0
        self._start_tree: dict[_Key, float] = {}
        self.usage: Usage | None = None

    # -- snapshots ---------------------------------------------------------------------------

    def _descendants_exact(self) -> list[psutil.Process]:
        try:
            return self._me.children(recursive=True)
        except psutil.Error:
            return []

    def _descendants_fast(self) -> list[psutil.Process]:
        found: list[psutil.Process] = []
        stack = [self._me.pid]
        while stack:
            kids = _child_pids_fast(stack.pop())
            if kids is None:  # no /proc children files: psutil walks the whole process table
                return self._descendants_exact()
            for pid in kids:
                proc = self._procs.get(pid)
                if proc is None or not proc.is_running():
                    try:
                        proc = psutil.Process(pid)
                    except psutil.Error:
                        continue
                    self._procs[pid] = proc
                found.append(proc)
                stack.append(pid)
        return found

    def _tree_cpu(self, procs: list[psutil.Process]) -> dict[_Key, float]:
        totals: dict[_Key, float] = {}
        for proc in procs:
            try:
                with proc.oneshot():
                    totals[(proc.pid, proc.create_time())] = _cpu_total(proc.cpu_times())
            except psutil.Error:  # gone between listing and reading: counted by its reaper
                continue
        return totals

    def _sample_rss(self) -> None:
        total = 0
        for proc in [self._me, *self._descendants_fast()]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        self._samples += 1
        self._peak_rss = max(self._peak_rss, total)

    def _run_sampler(self) -> None:
        started = time.thread_time()
        wait = self.interval
        while not self._stop.wait(wait):
            before = time.thread_time()
            self._sample_rss()
            cost = time.thread_time() - before
            wait = max(self.interval, cost / self.budget)
        self._sampler_cpu = time.thread_time() - started

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        began = time.perf_counter()
        self._start_tree = self._tree_cpu(self._descendants_fast())
        self._sample_rss()
        self._start_children = _rusage_seconds(resource.RUSAGE_CHILDREN)
        self._start_self = _rusage_seconds(resource.RUSAGE_SELF)
        self._thread = threading.Thread(target=self._run_sampler, name="renderbench-monitor", daemon=True)
        self._thread.start()
        self._start_wall = time.perf_counter()
        self._snapshot_time = self._start_wall - began

    def stop(self) -> Usage:
        wall = time.perf_counter() - self._start_wall
        began = time.perf_counter()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self_cpu = _rusage_seconds(resource.RUSAGE_SELF) - self._start_self
        children_cpu = _rusage_seconds(resource.RUSAGE_CHILDREN) - self._start_children
        end_tree = self._tree_cpu(self._descendants_fast())
        self._sample_rss()
        living = sum(end_tree.values()) - sum(self._start_tree.values())
        cpu = max(0.0, self_cpu - self._sampler_cpu + children_cpu + living)
        self._snapshot_time += time.perf_counter() - began
        overhead = self._sampler_cpu + self._snapshot_time
        self.usage = Usage(wall, cpu, self.cores, self._peak_rss, self._samples, overhead)
        return self.usage

    def __enter__(self) -> TreeMonitor:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.usage is None:
            self.stop()
