"""A benchmark you can watch: one line per round as it starts and ends, and an ETA for the session.

A full benchmark runs for many minutes per case, and pytest's own progress is one dot per test.
:class:`LiveReporter` is a separate reporting plugin (as pytest-xdist's reporter is separate
from its scheduler): it learns the plan and each round's result from a :class:`RoundSource`
(the renderbench session) and prints, on a terminal, one line per round that is completed
in place when the round ends::

    renderbench [ 3/14] chunk-w2-libx264:medium:23-slideshow round 2/5 ... 5.35 fps, 1.77x ref, valid (56 s) | 4 min 10 s elapsed, ETA 9 min

When the output is not a terminal (CI logs) the start (``... round 2/5 ...``) and the result
(``... round 2/5: 5.35 fps, ...``) are separate lines.
Without ``-v`` the pytest dots of these items are replaced by the lines (and file names are
not printed, as pytest-xdist does); with ``-v`` pytest's own line announces each round and the
result follows it; with ``-q`` nothing is printed. The formatting and the ETA are pure
functions, tested on their own.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pytest


@dataclass(frozen=True)
class Planned:
    """One round item, as the session plans to run it."""

    nodeid: str
    case: str  # case id
    renderer: str
    group: str  # workload / preset / encoder: cases that share a reference
    round: int
    rounds: int  # rounds of this case in the session


@dataclass(frozen=True)
class RoundOutcome:
    """What one round measured."""

    fps: float
    speedup: float | None  # over the reference's fps in the same round (else its median so far)
    valid: bool
    problems: int
    wall: float  # seconds of the render
    is_reference: bool = False


class RoundSource(Protocol):
    """What the reporter needs from the engine (the renderbench session)."""

    def planned(self) -> Sequence[Planned]: ...

    def outcome(self, nodeid: str) -> RoundOutcome | None: ...


# ---------------------------------------------------------------------------------------------
# Pure formatting and estimation


def format_duration(seconds: float) -> str:
    """``0.4 s``, ``45 s``, ``4 min 10 s``, ``12 min``, ``1 h 05 min``: as precise as a person needs."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 10:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    if minutes < 60:
        return f"{minutes + (secs >= 30)} min"
    hours, minutes = divmod(minutes + (secs >= 30), 60)
    return f"{hours} h {minutes:02d} min"


def format_label(position: int, total: int, item: Planned) -> str:
    """What starts a round's line: which one of how many, the case, the round."""
    width = len(str(total))
    rounds = f" round {item.round}/{item.rounds}" if item.rounds > 1 else ""
    return f"renderbench [{position:>{width}}/{total}] {item.case}{rounds}"


def format_result(outcome: RoundOutcome | None, status: str, seconds: float) -> str:
    """The end of a round's line: fps, speedup, validity; or how its test ended without a result.

    ``status`` is pytest's outcome of the test (passed, failed, skipped, error) and
    ``seconds`` the time the whole test took.
    """
    if outcome is None:
        return f"{status.upper()} ({format_duration(seconds)})"
    if outcome.is_reference:
        ratio = "reference"
    else:
        ratio = "- ref" if outcome.speedup is None else f"{outcome.speedup:.2f}x ref"
    valid = "valid" if outcome.valid else f"INVALID ({outcome.problems} problem{'s' if outcome.problems != 1 else ''})"
    # An invalid output fails its test: INVALID says why; any other way of failing is named.
    explained = status == "passed" or (status == "failed" and not outcome.valid)
    tail = "" if explained else f", {status.upper()}"
    return f"{outcome.fps:.2f} fps, {ratio}, {valid}{tail} ({format_duration(outcome.wall)})"


def format_eta(elapsed: float, remaining: float | None, left: int) -> str:
    if left == 0:
        return f"{format_duration(elapsed)} in all"
    eta = "ETA unknown" if remaining is None else f"ETA {format_duration(remaining)}"
    return f"{format_duration(elapsed)} elapsed, {eta}"


def estimate_remaining(remaining: Sequence[Planned], measured: Mapping[str, float], planned: Sequence[Planned]) -> float | None:
    """Seconds the ``remaining`` rounds will likely take, from the ``measured`` ones (nodeid -> s).

    A round is expected to take what the same case's rounds took; a case not measured yet,
    what the same renderer took at another worker count in its group; else the mean of its
    group (the group's reference runs first, and it is usually the slowest); else the mean of
    everything measured. None before anything has been measured.
    """
    if not measured:
        return None
    by_node = {p.nodeid: p for p in planned}
    by_case: dict[str, list[float]] = {}
    by_renderer: dict[tuple[str, str], list[float]] = {}
    by_group: dict[str, list[float]] = {}
    for nodeid, seconds in measured.items():
        item = by_node.get(nodeid)
        if item is None:
            continue
        by_case.setdefault(item.case, []).append(seconds)
        by_renderer.setdefault((item.group, item.renderer), []).append(seconds)
        by_group.setdefault(item.group, []).append(seconds)
    overall = statistics.fmean(measured.values())
    total = 0.0
    for item in remaining:
        samples = by_case.get(item.case) or by_renderer.get((item.group, item.renderer)) or by_group.get(item.group)
        total += statistics.fmean(samples) if samples else overall
    return total


# ---------------------------------------------------------------------------------------------
# The plugin


class LiveReporter:
    """Prints the live lines (see the module doc); registered by the plugin as ``renderbench-live``."""

    def __init__(self, source: RoundSource, terminal: Any, verbose: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self.terminal = terminal
        self.verbose = verbose
        self.clock = clock
        self.started_at: float | None = None
        self.started: dict[str, float] = {}
        self.measured: dict[str, float] = {}
        self.done: set[str] = set()
        self._plan: dict[str, tuple[int, Planned]] = {}
        self._open_line = False  # a start printed on a terminal, waiting for its result

    def _ensure_plan(self) -> None:
        if not self._plan:
            planned = self.source.planned()
            self._plan = {p.nodeid: (i + 1, p) for i, p in enumerate(planned)}

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._ensure_plan()
        if self._plan and not self.verbose:
            # As pytest-xdist does: file names between the lines would only mangle them.
            self.terminal.showfspath = False

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> Generator[None, Any, Any]:
        result = yield
        # Our line says how a round ended; pytest's dot for it would land in the middle of the next.
        if not self.verbose and report.nodeid in self._plan and result and result[1]:
            return (result[0], "", result[2])
        return result

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self._ensure_plan()
        if nodeid not in self._plan:
            return
        now = self.clock()
        if self.started_at is None:
            self.started_at = now
        self.started[nodeid] = now
        if self.verbose:  # pytest's own line names the test as it starts
            return
        position, item = self._plan[nodeid]
        label = format_label(position, len(self._plan), item)
        if self.terminal.isatty:
            self.terminal.ensure_newline()
            self.terminal.write(f"{label} ... ", flush=True)
            self._open_line = True
        else:
            self.terminal.write_line(f"{label} ...")

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        nodeid = report.nodeid
        if nodeid not in self._plan or nodeid in self.done:
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self._finish(nodeid, report)

    def _finish(self, nodeid: str, report: pytest.TestReport) -> None:
        self.done.add(nodeid)
        now = self.clock()
        seconds = now - self.started.get(nodeid, now)
        if report.when == "call":
            self.measured[nodeid] = seconds
        status = "error" if report.when == "setup" and report.failed else report.outcome
        position, item = self._plan[nodeid]
        result = format_result(self.source.outcome(nodeid), status, seconds)
        remaining = [p for n, (_, p) in self._plan.items() if n not in self.done]
        elapsed = now - (self.started_at if self.started_at is not None else now)
        eta = format_eta(elapsed, estimate_remaining(remaining, self.measured, [p for _, p in self._plan.values()]), len(remaining))
        line = f"{result} | {eta}"
        if self._open_line:
            self.terminal.write(line + "\n", flush=True)
            self._open_line = False
        else:
            self.terminal.write_line(f"{format_label(position, len(self._plan), item)}: {line}")
