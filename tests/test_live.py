"""The live lines and the ETA: pure formatting, and the reporter driven by fake reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.live import (
    LiveReporter,
    Planned,
    RoundOutcome,
    estimate_remaining,
    format_duration,
    format_eta,
    format_label,
    format_result,
)


def planned(case: str, renderer: str, number: int, rounds: int = 2, group: str = "slideshow full x264") -> Planned:
    return Planned(f"t.py::test[{case}-r{number}]", case, renderer, group, number, rounds)


PLAN = [
    planned("baseline-w1", "baseline", 1),
    planned("chunk-w1", "chunk", 1),
    planned("chunk-w2", "chunk", 1),
    planned("manim-serial-w1", "manim-serial", 1, group="explainer"),
    planned("baseline-w1", "baseline", 2),
    planned("chunk-w1", "chunk", 2),
    planned("chunk-w2", "chunk", 2),
    planned("manim-serial-w1", "manim-serial", 2, group="explainer"),
]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.42, "0.4 s"), (45.2, "45 s"), (250, "4 min 10 s"), (300, "5 min"), (719.6, "12 min"), (3930, "1 h 06 min")],
    ids=["tenths", "seconds", "minutes-seconds", "whole-minutes", "minutes", "hours"],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_label_and_result() -> None:
    assert format_label(3, 14, planned("chunk-w2-libx264:medium:23-slideshow", "chunk", 2, rounds=5)) == (
        "renderbench [ 3/14] chunk-w2-libx264:medium:23-slideshow round 2/5"
    )
    assert format_label(1, 2, planned("baseline-w1", "baseline", 1, rounds=1)) == "renderbench [1/2] baseline-w1"
    assert format_result(RoundOutcome(5.349, 1.772, True, 0, 56.1), "passed", 58.0) == "5.35 fps, 1.77x ref, valid (56 s)"
    assert format_result(RoundOutcome(3.03, None, True, 0, 98.9, is_reference=True), "passed", 99.0) == (
        "3.03 fps, reference, valid (1 min 39 s)"
    )
    assert format_result(RoundOutcome(9.0, 3.0, False, 2, 33.0), "failed", 35.0) == "9.00 fps, 3.00x ref, INVALID (2 problems) (33 s)"
    # A valid render whose test failed anyway (the user's own assertion), and no render at all.
    assert format_result(RoundOutcome(9.0, None, True, 0, 33.0), "failed", 35.0) == "9.00 fps, - ref, valid, FAILED (33 s)"
    assert format_result(None, "failed", 2.5) == "FAILED (2.5 s)"
    assert format_result(None, "skipped", 0.01) == "SKIPPED (0.0 s)"


def test_eta_words() -> None:
    assert format_eta(250, 540, 3) == "4 min 10 s elapsed, ETA 9 min"
    assert format_eta(12, None, 3) == "12 s elapsed, ETA unknown"
    assert format_eta(1029, 0, 0) == "17 min in all"


def test_estimate_uses_the_closest_measurement_there_is() -> None:
    assert estimate_remaining(PLAN, {}, PLAN) is None
    # Only the first reference measured: everything of its group is expected to take as long,
    # the other group the mean of what was measured.
    measured = {PLAN[0].nodeid: 90.0}
    assert estimate_remaining(PLAN[1:], measured, PLAN) == pytest.approx(7 * 90.0)
    # chunk-w1 measured: chunk-w2 (same renderer and group) is expected to take as long.
    measured[PLAN[1].nodeid] = 60.0
    assert estimate_remaining([PLAN[2]], measured, PLAN) == pytest.approx(60.0)
    # The same case's own rounds come first.
    measured[PLAN[2].nodeid] = 50.0
    measured[PLAN[3].nodeid] = 20.0
    assert estimate_remaining(PLAN[4:], measured, PLAN) == pytest.approx(90 + 60 + 50 + 20)


@dataclass
class FakeTerminal:
    """Just what the reporter writes with; lines as a terminal would show them."""

    isatty: bool
    text: str = ""
    showfspath: bool = True

    def ensure_newline(self) -> None:
        if self.text and not self.text.endswith("\n"):
            self.text += "\n"

    def write(self, content: str, flush: bool = False) -> None:
        self.text += content

    def write_line(self, line: str) -> None:
        self.ensure_newline()
        self.text += line + "\n"


@dataclass
class FakeSource:
    plan: list[Planned]
    outcomes: dict[str, RoundOutcome] = field(default_factory=dict)

    def planned(self) -> list[Planned]:
        return self.plan

    def outcome(self, nodeid: str) -> RoundOutcome | None:
        return self.outcomes.get(nodeid)


@dataclass
class FakeReport:
    nodeid: str
    when: str
    outcome: str = "passed"

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def drive(reporter: LiveReporter, clock: Clock, source: FakeSource, steps: list[tuple[Planned, float, str]]) -> None:
    reporter.pytest_collection_finish(session=None)  # type: ignore[arg-type]
    for item, seconds, outcome in steps:
        reporter.pytest_runtest_logstart(item.nodeid, ("t.py", 1, "test"))
        clock.now += seconds
        source.outcomes[item.nodeid] = RoundOutcome(10.0 / seconds, None, True, 0, seconds, is_reference=item.renderer == "baseline")
        report: Any = FakeReport(item.nodeid, "call", outcome)
        reporter.pytest_runtest_logreport(report)


def test_reporter_completes_one_line_per_round_on_a_terminal() -> None:
    plan = PLAN[:2]
    source, clock, terminal = FakeSource(plan), Clock(), FakeTerminal(isatty=True)
    reporter = LiveReporter(source, terminal, verbose=False, clock=clock)
    drive(reporter, clock, source, [(plan[0], 10.0, "passed"), (plan[1], 5.0, "passed")])
    assert terminal.showfspath is False
    assert terminal.text.splitlines() == [
        "renderbench [1/2] baseline-w1 round 1/2 ... 1.00 fps, reference, valid (10 s) | 10 s elapsed, ETA 10 s",
        "renderbench [2/2] chunk-w1 round 1/2 ... 2.00 fps, - ref, valid (5.0 s) | 15 s in all",
    ]


def test_reporter_writes_start_and_result_lines_in_logs_and_only_results_when_verbose() -> None:
    plan = PLAN[:1]
    source, clock, terminal = FakeSource(plan), Clock(), FakeTerminal(isatty=False)
    drive(LiveReporter(source, terminal, verbose=False, clock=clock), clock, source, [(plan[0], 10.0, "passed")])
    assert terminal.text.splitlines() == [
        "renderbench [1/1] baseline-w1 round 1/2 ...",
        "renderbench [1/1] baseline-w1 round 1/2: 1.00 fps, reference, valid (10 s) | 10 s in all",
    ]
    source, clock, terminal = FakeSource(plan), Clock(), FakeTerminal(isatty=True)
    drive(LiveReporter(source, terminal, verbose=True, clock=clock), clock, source, [(plan[0], 10.0, "passed")])
    assert terminal.showfspath is True  # -v: pytest's own line names each test
    assert terminal.text.splitlines() == ["renderbench [1/1] baseline-w1 round 1/2: 1.00 fps, reference, valid (10 s) | 10 s in all"]


def test_reporter_leaves_other_tests_alone_and_reports_a_skipped_round() -> None:
    plan = PLAN[:1]
    source, clock, terminal = FakeSource(plan), Clock(), FakeTerminal(isatty=False)
    reporter = LiveReporter(source, terminal, verbose=False, clock=clock)
    reporter.pytest_collection_finish(session=None)  # type: ignore[arg-type]
    reporter.pytest_runtest_logstart("t.py::test_other", ("t.py", 1, "test_other"))
    other: Any = FakeReport("t.py::test_other", "call")
    reporter.pytest_runtest_logreport(other)
    assert terminal.text == ""
    reporter.pytest_runtest_logstart(plan[0].nodeid, ("t.py", 1, "test"))
    skipped: Any = FakeReport(plan[0].nodeid, "setup", "skipped")
    reporter.pytest_runtest_logreport(skipped)
    assert terminal.text.splitlines()[-1] == "renderbench [1/1] baseline-w1 round 1/2: SKIPPED (0.0 s) | 0.0 s in all"
