"""Why a worker died without a word: was it memory?

The kernel's OOM killer ends a process with SIGKILL and tells nobody but its log. A pool
that lost a worker to SIGKILL asks :class:`MemoryWatch`, which samples its workers' memory
while they run (every 0.1 s: psutil's RSS and VMS, and the limits they run under) and reads
the kernel's count of OOM kills (``oom_kill`` in ``/proc/vmstat``, which counts the kills of
the system and of every cgroup alike). Either of these makes memory the likely cause:

- the kernel counted an OOM kill since the pool started;
- the worker's last sample was close to a limit: its RSS near its memory cgroup's limit (or
  the machine's memory), or its address space near its ``RLIMIT_AS``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil

#: How often workers are sampled (seconds).
SAMPLE_S = 0.1

#: A sample at this fraction of a limit counts as "at the limit".
NEAR_LIMIT = 0.8

_UNLIMITED = 1 << 60


def oom_kills() -> int | None:
    """The kernel's count of processes its OOM killer ended (None: not told here)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/vmstat").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
    return None


def cgroup_memory_limit(pid: int) -> int | None:
    """The memory limit (bytes) of ``pid``'s memory cgroup, cgroup v2 or v1; None: none."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2
            candidates = [Path("/sys/fs/cgroup") / path.lstrip("/") / "memory.max",
                          Path("/sys/fs/cgroup/unified") / path.lstrip("/") / "memory.max"]  # fmt: skip
        elif "memory" in controllers.split(","):
            candidates = [Path("/sys/fs/cgroup/memory") / path.lstrip("/") / "memory.limit_in_bytes"]
        else:
            continue
        for candidate in candidates:
            with contextlib.suppress(OSError, ValueError):
                text = candidate.read_text().strip()
                limit = _UNLIMITED if text == "max" else int(text)
                if limit < _UNLIMITED:
                    return limit
    return None


@dataclasses.dataclass
class Sample:
    """A worker's memory when last seen, and the limits it ran under."""

    rss: int
    vms: int
    at: float
    address_space: int | None  # RLIMIT_AS, None: unlimited
    cgroup: int | None  # its memory cgroup's limit, None: unlimited


def _gib(count: int) -> str:
    return f"{count / 2**30:.2f} GiB" if count >= 2**30 else f"{count / 2**20:.0f} MiB"


class MemoryWatch:
    """Samples the memory of a pool's workers on a daemon thread until :meth:`stop`."""

    def __init__(self, pids: Callable[[], Iterable[int] | None]) -> None:
        """``pids``: the workers to sample now (None: the pool is over). A bound method is
        held weakly: a pool nobody closed still goes, and its watch with it."""
        self._pids = weakref.WeakMethod(pids) if inspect.ismethod(pids) else lambda: pids
        self._samples: dict[int, Sample] = {}
        self._procs: dict[int, psutil.Process] = {}
        self._cgroups: dict[int, int | None] = {}
        self._kills_before = oom_kills()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="renderbench-memory-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            source = self._pids()
            try:
                found = None if source is None else source()
                pids = None if found is None else list(found)
            except RuntimeError:  # the pool's table changed while it was read: next time
                continue
            if pids is None:
                return
            for pid in pids:
                self._sample(pid)

    def _sample(self, pid: int) -> None:
        try:
            proc = self._procs.get(pid) or self._procs.setdefault(pid, psutil.Process(pid))
            info = proc.memory_info()
            soft = proc.rlimit(psutil.RLIMIT_AS)[0]
        except psutil.Error:
            return
        if info.rss == 0:  # a zombie: dead already, its last sample stands
            return
        if pid not in self._cgroups:
            self._cgroups[pid] = cgroup_memory_limit(pid)
        limit = None if soft in (psutil.RLIM_INFINITY, -1) else int(soft)
        self._samples[pid] = Sample(info.rss, info.vms, time.monotonic(), limit, self._cgroups[pid])

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def evidence(self, pid: int) -> str | None:
        """Why memory likely killed ``pid`` (it died of SIGKILL), or None when nothing says so."""
        found: list[str] = []
        kills = oom_kills()
        if kills is not None and self._kills_before is not None and kills > self._kills_before:
            count = kills - self._kills_before
            found.append(
                f"the kernel's OOM killer ended {count} process{'es' if count != 1 else ''} "
                f"meanwhile (oom_kill in /proc/vmstat: {self._kills_before} -> {kills})"
            )
        sample = self._samples.get(pid)
        if sample is not None:
            ago = f"{max(0.0, time.monotonic() - sample.at):.1f} s before it died"
            for limit, name in ((sample.cgroup, "its memory cgroup's limit"), (psutil.virtual_memory().total, "the machine's memory")):
                if limit and sample.rss >= NEAR_LIMIT * limit:
                    found.append(f"its RSS was {_gib(sample.rss)} {ago}, of the {_gib(limit)} of {name}")
                    break
            if sample.address_space and sample.vms >= NEAR_LIMIT * sample.address_space:
                found.append(
                    f"its address space was {_gib(sample.vms)} {ago}, of the "
                    f"{_gib(sample.address_space)} its RLIMIT_AS allows"
                )
            if found and not any("RSS" in item for item in found):
                found.append(f"its RSS was {_gib(sample.rss)} {ago}")
        if not found:
            return None
        return (
            "out of memory, most likely: " + "; ".join(found) + ". Give the render more memory, "
            "or use fewer workers (each holds its own clip and frames) or smaller frames"
        )
