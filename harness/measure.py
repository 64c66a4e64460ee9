"""What one render costs: wall time, CPU of the whole process tree and where it went, peak memory.

CPU is counted exactly, not sampled: at the end, this process's own CPU (``RUSAGE_SELF``),
plus everything its reaped children used (``RUSAGE_CHILDREN``, which also holds what *their*
reaped children used), plus what every still-living descendant used (its own time and its
reaped children's), minus the same for processes that already existed at the start. Each
process is counted exactly once whoever reaped it, so a worker or an ffmpeg that exits during
the run is included. One kind escapes those counters: a process whose parent ended without
waiting for it (a worker that exits while its MoviePy reader still runs) is adopted by init,
which reaps it. The sampler follows such a process to its end, and what it used up to its last
sample is added (Linux; one adopted before any sample saw it in the tree is missed). Memory needs sampling: a thread adds up the RSS of the tree every
sample and keeps the peak.

Where the CPU went (Linux): every sample reads each process's ``/proc/PID/stat`` (its own user +
system time, what its reaped children used, its RSS) and gives the process a role by what it
runs (:func:`process_role`): ``frame`` for Python processes (the caller and its workers: the
composition, and handing frames on), ``decode`` for ffmpeg reading media files (MoviePy's
readers), ``encode`` for every other ffmpeg and ffprobe (encoding, muxing, joining, counting).
:class:`CpuLedger` adds each process's own time to its role up to its last sample; when a
process ends, its parent's reaped-children time grows by the process's whole total, and the part
no sample saw (its last moments) goes to the role of the process that ended. A process that
started and ended between two samples (0.05 s apart at least, more where a sample costs more)
was never seen: its CPU is counted, in its parent's reaped time, but under ``other``, with
anything that is neither Python nor ffmpeg at work on media (MoviePy runs ``ffmpeg`` and
``ffplay`` bare once per process, to find them). So the roles add up to the total above (to the kernel's 10 ms tick per process), and
the error of the split is at most what ``other`` holds.

The monitor measures itself: the sampler thread's CPU and the start/stop snapshots are the
harness's overhead, reported beside the result (kept well under 2 % of wall time by stretching
the sampling interval when a sample is expensive). The sampler's CPU is not billed to the render.
"""

from __future__ import annotations

import glob
import os
import resource
import threading
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
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
    #: CPU-seconds by role (:data:`ROLES`), adding up to ``cpu_seconds``; empty where the
    #: system has no ``/proc`` to read them from.
    cpu_by_role: Mapping[str, float] = field(default_factory=dict)

    @property
    def cpu_util(self) -> float:
        """CPU used as a fraction of all cores over the wall time (1.0 = every core busy)."""
        if self.wall <= 0:
            return 0.0
        return self.cpu_seconds / (self.wall * self.cores)

    @property
    def overhead_fraction(self) -> float:
        return self.overhead / self.wall if self.wall > 0 else 0.0


#: What a process of the tree does, by what it runs (:func:`process_role`).
FRAME, DECODE, ENCODE, OTHER = "frame", "decode", "encode", "other"
ROLES = (FRAME, DECODE, ENCODE, OTHER)

_STDIO = ("-", "pipe:", "pipe:0", "pipe:1")


def process_role(argv: Sequence[str]) -> str:
    """The role of a process running ``argv``: Python makes frames, ffmpeg decodes or encodes.

    An ffmpeg decodes when it reads media only (no ``-i -``, no generated ``lavfi`` input),
    writes raw frames or samples (no codec but ``rawvideo`` or ``pcm_*`` chosen) and writes them
    to its stdout (MoviePy's readers end with ``-``) or nowhere (``ffmpeg -i FILE``, MoviePy's
    probe of a file). An ffmpeg without an input does no media work (``ffmpeg -version``,
    MoviePy looking for its tools): ``other``. Any other ffmpeg, and ffprobe, is on the output's
    side: encoding, muxing, joining, counting, checking an encoder.
    """
    if not argv:
        return OTHER
    program = os.path.basename(argv[0]).lower()
    if program.startswith("python"):
        return FRAME
    if program.startswith("ffprobe"):
        return ENCODE
    if not program.startswith("ffmpeg"):
        return OTHER
    args = list(argv[1:])
    inputs = [args[k + 1] for k in range(len(args) - 1) if args[k] == "-i"]
    if not inputs:  # no media: ``ffmpeg -version``, MoviePy looking for its tools
        return OTHER
    if any(source in _STDIO for source in inputs) or "lavfi" in args:
        return ENCODE
    codecs = [args[k + 1] for k in range(len(args) - 1) if _is_codec_option(args[k])]
    if any(codec != "rawvideo" and not codec.startswith("pcm_") for codec in codecs):
        return ENCODE
    to_stdout = args[-1] in _STDIO
    no_output = len(args) >= 2 and args[-2] == "-i"
    return DECODE if to_stdout or no_output else ENCODE


def _is_codec_option(arg: str) -> bool:
    return arg in ("-c", "-codec", "-vcodec", "-acodec") or arg.startswith(("-c:", "-codec:"))


@dataclass(frozen=True)
class ProcSample:
    """One process as one sample saw it (CPU-seconds so far)."""

    role: str
    parent: Hashable | None  # the key of its parent in the same sample; None: no parent there
    own: float  # user + system of the process itself
    children: float  # user + system of its reaped children (and theirs)
    #: It left the tree: its parent ended without waiting for it, and a process outside the
    #: tree (init) adopted it. No counter of the tree will ever hold its CPU.
    outside: bool = False


class CpuLedger:
    """CPU-seconds by role from successive samples of a process tree (see the module docstring).

    :meth:`observe` takes one sample: each process under a key that is unique for its lifetime
    (pid and start time), its parent's key read before it. The first sample is the start:
    nothing used before it counts. ``seconds`` holds the running totals by role; ``escaped``
    the part of them used by processes that left the tree, which the tree's own counters miss.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(ROLES, 0.0)
        self._last: dict[Hashable, ProcSample] = {}
        self._base: dict[Hashable, tuple[float, float]] = {}  # (own, children) when first seen
        self._reaped: dict[Hashable, float] = {}  # last-seen totals of its children that ended
        self._given: dict[Hashable, float] = {}  # reaped time no sample saw, handed out so far
        self._pending: dict[Hashable, tuple[int, dict[str, float]]] = {}  # ended children's roles
        self._escaped: dict[Hashable, float] = {}
        self._samples = 0

    @property
    def escaped(self) -> float:
        return sum(self._escaped.values())

    def known(self) -> list[Hashable]:
        """The processes the last sample saw."""
        return list(self._last)

    def observe(self, sample: Mapping[Hashable, ProcSample]) -> None:
        first = self._samples == 0
        self._samples += 1
        for key, now in sample.items():
            last = self._last.get(key)
            if last is None:
                # Born during the run: all of it counts. Alive at the start: none of it yet.
                self._base[key] = (now.own, now.children) if first else (0.0, 0.0)
                used = 0.0 if first else now.own
            else:
                used = now.own - last.own
            self.seconds[now.role] += max(0.0, used)
        ended = {key: last for key, last in self._last.items() if key not in sample}
        for key, gone in ended.items():
            self._credit(gone, ended)
        for key in ended:
            del self._last[key]
            for table in (self._base, self._reaped, self._given, self._pending):
                table.pop(key, None)
        for key, now in sample.items():
            self._settle(key, now)
            if now.outside:
                base_own, base_children = self._base[key]
                self._escaped[key] = now.own + now.children - base_own - base_children
            self._last[key] = now

    def _credit(self, gone: ProcSample, ended: Mapping[Hashable, ProcSample]) -> None:
        """An ended process's last-seen total, against the counter that will hold its whole
        total: its parent's, or where its parent ended too (and waited for it, presumably), the
        nearest ancestor's still running. What the counter gains beyond it is its last moments,
        unseen, and goes to its role."""
        if gone.outside:
            return  # adopted outside the tree: what no sample saw of it is lost
        target = gone.parent
        while target in ended:
            target = ended[target].parent
        if target is None:
            return
        self._reaped[target] = self._reaped.get(target, 0.0) + gone.own + gone.children
        _, roles = self._pending.get(target, (0, {}))
        roles[gone.role] = roles.get(gone.role, 0.0) + 1.0
        self._pending[target] = (self._samples, roles)

    def _settle(self, key: Hashable, now: ProcSample) -> None:
        """Hand out the reaped time of ``key`` that no sample saw while its children ran: to
        the roles of the children that just ended, else (children that started and ended
        between two samples) to ``other``."""
        unseen = now.children - self._base[key][1] - self._reaped.get(key, 0.0)
        new = unseen - self._given.get(key, 0.0)
        pending = self._pending.get(key)
        if new > 0:
            self._given[key] = unseen
            if pending is None:
                self.seconds[OTHER] += new
            else:
                del self._pending[key]
                weights = pending[1]
                total = sum(weights.values())
                for role, weight in weights.items():
                    self.seconds[role] += new * weight / total
        elif pending is not None and pending[0] < self._samples - 1:
            # A parent's counter may lag its child's end by one sample; not by two.
            del self._pending[key]


def _cpu_total(times: psutil._common.pcputimes) -> float:  # type: ignore[name-defined]
    # children_* hold what this process's reaped children (recursively) used.
    return float(times.user + times.system + times.children_user + times.children_system)


def _rusage_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class _Stat:
    """What ``/proc/PID/stat`` says of a process."""

    ppid: int
    start: int  # clock ticks after boot: with the pid, unique for the process's lifetime
    own: float  # CPU-seconds
    children: float  # CPU-seconds of its reaped children
    rss: int  # bytes
    name: str


def _read_stat(pid: int) -> _Stat | None:
    """The process's ``/proc/PID/stat`` (Linux), or None when it is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
        close = data.rindex(b")")
        fields = data[close + 2 :].split()
        utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
        return _Stat(
            int(fields[1]), int(fields[19]), (utime + stime) / _TICK, (cutime + cstime) / _TICK,
            int(fields[21]) * _PAGE, data[data.index(b"(") + 1 : close].decode(errors="replace"),
        )  # fmt: skip
    except (OSError, ValueError, IndexError):
        return None


def _argv(pid: int, name: str) -> list[str]:
    """The process's command line; ``[name]`` where it has none to read (a zombie)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
    except OSError:
        raw = b""
    argv = [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]
    return argv or [name]


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

    ``interval`` is the shortest time between samples (memory, and CPU by role); ``budget`` the
    largest share of one core the sampler may use (the interval grows when a sample costs more).
    """

    def __init__(self, interval: float = 0.05, budget: float = 0.01, cores: int | None = None) -> None:
        self.interval = interval
        self.budget = budget
        self.cores = cores or usable_cores()
        self._me = psutil.Process()
        self._procs: dict[int, psutil.Process] = {}
        self._by_role = _read_stat(self._me.pid) is not None  # /proc to read roles from
        self._ledger = CpuLedger()
        self._roles: dict[tuple[int, int], tuple[str, str]] = {}  # key -> (its name, its role)
        self._previous: set[tuple[int, int]] = set()  # the processes the last sample saw
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

    def _role(self, key: tuple[int, int], stat: _Stat) -> str:
        """The process's role, read again when its name changes: a child seen between its fork
        and its exec still runs its parent's program (Python)."""
        known = self._roles.get(key)
        if known is None or known[0] != stat.name:
            known = self._roles[key] = (stat.name, process_role(_argv(key[0], stat.name)))
        return known[1]

    def _tree_stats(self) -> list[tuple[int, _Stat]]:
        """Every descendant's stat, each parent's read before its children's (see CpuLedger)."""
        found: list[tuple[int, _Stat]] = []
        queue = [self._me.pid]
        for pid in queue:
            kids = _child_pids_fast(pid)
            if kids is None:  # no /proc children files: psutil walks the whole process table
                listed = [(p.pid, _read_stat(p.pid)) for p in self._descendants_exact()]
                return [(kid, stat) for kid, stat in listed if stat is not None]
            for kid in kids:
                stat = _read_stat(kid)
                if stat is not None:
                    found.append((kid, stat))
                    queue.append(kid)
        return found

    def _sample(self, sampler_cpu: float) -> None:
        """Memory, and CPU by role: one read of each process's ``/proc/PID/stat``."""
        me = _read_stat(self._me.pid) if self._by_role else None
        if me is None:
            self._sample_rss()
            return
        own = _rusage_seconds(resource.RUSAGE_SELF) - sampler_cpu
        mine = (self._me.pid, me.start)
        sample: dict[Hashable, ProcSample] = {
            mine: ProcSample(FRAME, None, own, _rusage_seconds(resource.RUSAGE_CHILDREN))
        }
        keys = {self._me.pid: mine}
        total = me.rss
        for pid, stat in self._tree_stats():
            key = keys[pid] = (pid, stat.start)
            parent = keys.get(stat.ppid)
            sample[key] = ProcSample(self._role(key, stat), parent, stat.own, stat.children)
            total += stat.rss
        for key in self._previous - set(keys.values()):
            # Not in the tree, yet running: adopted outside it (its parent ended without
            # waiting for it). It is still this block's work: followed to its end.
            adopted = _read_stat(key[0])
            if adopted is not None and adopted.start == key[1]:
                role = self._role(key, adopted)
                sample[key] = ProcSample(role, None, adopted.own, adopted.children, outside=True)
                keys[key[0]] = key
                total += adopted.rss
        self._previous = set(keys.values())
        self._ledger.observe(sample)
        self._samples += 1
        self._peak_rss = max(self._peak_rss, total)

    def _run_sampler(self) -> None:
        started = time.thread_time()
        wait = self.interval
        while not self._stop.wait(wait):
            before = time.thread_time()
            self._sample(before - started)
            cost = time.thread_time() - before
            wait = max(self.interval, cost / self.budget)
        self._sampler_cpu = time.thread_time() - started

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        began = time.perf_counter()
        self._start_tree = self._tree_cpu(self._descendants_fast())
        self._sample(0.0)
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
        self._sample(self._sampler_cpu)
        living = sum(end_tree.values()) - sum(self._start_tree.values())
        cpu = max(0.0, self_cpu - self._sampler_cpu + children_cpu + living)
        cpu += self._ledger.escaped  # processes adopted outside the tree, as last seen
        self._snapshot_time += time.perf_counter() - began
        overhead = self._sampler_cpu + self._snapshot_time
        by_role = dict(self._ledger.seconds) if self._by_role else {}
        self.usage = Usage(wall, cpu, self.cores, self._peak_rss, self._samples, overhead, by_role)
        return self.usage

    def __enter__(self) -> TreeMonitor:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.usage is None:
            self.stop()
