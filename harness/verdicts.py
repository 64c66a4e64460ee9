"""Verdicts of the fps gates: pass, fail or inconclusive, per rule and case. Pure functions.

- :func:`speedup_verdicts` (``--renderbench-min-speedup``): for each rule, the paired
  per-round speedups of a renderer over the reference measured in the same run (round *r* of
  the case against round *r* of the reference) and their confidence interval
  (:func:`harness.stats.ratio_interval`). *pass*: the lower bound reaches the required
  speedup at some worker count; *fail*: every worker count's upper bound is below it;
  *inconclusive*: otherwise, with the rounds that would likely decide.
- :func:`fps_drop_verdicts` (``--renderbench-max-fps-drop``): each case's round samples now
  against those of a saved run, as asv compares runs: a drop counts only when it is both
  larger than the allowed percentage (the minimum effect size) and significant in a
  Mann-Whitney U test (:func:`harness.stats.rank_test`). Larger but not significant:
  *inconclusive*.

A gate that cannot be checked (no valid output, no reference, no case) *fails*: it must never
pass silently. An invalid output's fps does not count.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from harness import stats
from harness.options import SpeedupRule
from harness.report import aligned
from impls.model.results import Row


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Verdict:
    """One gate's verdict on one rule (speedup gate) or case (fps-drop gate), with its numbers."""

    gate: str  # "min-speedup" or "max-fps-drop"
    subject: str  # the rule and where it applies, or the case
    outcome: Outcome
    message: str  # the numbers in words
    case: str | None = None  # the case the verdict rests on
    estimate: float | None = None  # speedup (geometric mean of paired rounds) or fps now (median)
    low: float | None = None  # speedup gate: the confidence interval
    high: float | None = None
    threshold: float | None = None  # required speedup, or allowed drop in percent
    rounds: int = 0  # paired rounds, or rounds now
    saved_rounds: int | None = None  # fps-drop gate: rounds of the saved run
    saved: float | None = None  # fps-drop gate: the saved run's median fps
    change: float | None = None  # fps-drop gate: percent change of the median fps
    p_value: float | None = None
    rounds_needed: int | None = None  # inconclusive: rounds (per run) that would likely decide

    def __str__(self) -> str:
        return f"{self.subject}: {self.outcome}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """For the JSON results: plain values only."""
        out = asdict(self)
        out["outcome"] = str(self.outcome)
        return out


def _percent(confidence: float) -> str:
    return f"{100 * confidence:g} %"


def _more(needed: int | None, have: int, per_run: bool = False) -> str:
    each = " per run" if per_run else ""
    if needed is None:
        return f"more rounds than {stats.MAX_ROUNDS}{each} would be needed, or the spread is unknown"
    return f"about {needed} rounds{each} would likely decide ({needed - have} more)"


def paired_speedups(case: Row, reference: Row) -> list[float]:
    """Round *r* of ``case`` over round *r* of ``reference`` (fps ratios); one ratio per pair.

    Saved runs without per-round samples give their medians' ratio.
    """
    mine = case.fps_all or (case.fps,)
    theirs = reference.fps_all or (reference.fps,)
    return [a / b for a, b in zip(mine, theirs) if a > 0 and b > 0]


def _groups(rows: Iterable[Row]) -> dict[tuple[str, str, str], list[Row]]:
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    return groups


@dataclass(frozen=True)
class _Candidate:
    row: Row
    ratios: list[float]
    interval: stats.RatioInterval | None

    @property
    def estimate(self) -> float:
        return self.interval.estimate if self.interval else (statistics.geometric_mean(self.ratios) if self.ratios else 0.0)


def _speedup_words(c: _Candidate, rule: SpeedupRule, relation: str) -> str:
    if c.interval is None:
        return (
            f"speedup {c.estimate:.2f}x (w{c.row.workers}) from {len(c.ratios)} round: no spread to judge it by, "
            f"required {rule.minimum:g}x; run 3 or more rounds"
        )
    i = c.interval
    return (
        f"speedup {i.estimate:.2f}x (w{c.row.workers}, {_percent(i.confidence)} interval {i.low:.2f}x-{i.high:.2f}x "
        f"over {i.rounds} paired rounds) {relation} required {rule.minimum:g}x"
    )


def _speedup_verdict(gate: str, label: str, rule: SpeedupRule, candidates: list[_Candidate], confidence: float) -> Verdict:
    def verdict(outcome: Outcome, c: _Candidate, message: str, needed: int | None = None) -> Verdict:
        i = c.interval
        return Verdict(
            gate, label, outcome, message, case=c.row.case_id, estimate=c.estimate,
            low=i.low if i else None, high=i.high if i else None, threshold=rule.minimum,
            rounds=len(c.ratios), rounds_needed=needed,
        )  # fmt: skip

    sure = [c for c in candidates if c.interval is not None and c.interval.low >= rule.minimum]
    if sure:
        best = max(sure, key=lambda c: c.interval.low if c.interval else 0.0)
        return verdict(Outcome.PASS, best, _speedup_words(best, rule, ">="))
    best = max(candidates, key=lambda c: c.estimate)
    if all(c.interval is not None and c.interval.high < rule.minimum for c in candidates):
        return verdict(Outcome.FAIL, best, _speedup_words(best, rule, "<"))
    needed = stats.rounds_to_decide(best.ratios, rule.minimum, confidence) if len(best.ratios) > 1 else None
    words = _speedup_words(best, rule, "straddles")
    if best.interval is not None:
        words += f": {_more(needed, len(best.ratios))}"
    return verdict(Outcome.INCONCLUSIVE, best, words, needed)


def speedup_verdicts(rows: Sequence[Row], rules: Sequence[SpeedupRule], confidence: float) -> list[Verdict]:
    """One verdict per rule x renderer x workload group (see the module doc)."""
    gate = "min-speedup"
    found: list[Verdict] = []
    for (workload, preset, encoder), group in _groups(rows).items():
        where = f"{workload} ({preset}, {encoder})"
        reference = next((r for r in group if r.is_reference), None)
        renderers = sorted({r.renderer for r in group if not r.is_reference})
        for rule in rules:
            names = renderers if rule.renderer == "*" else [rule.renderer]
            for name in names:
                label = f"{name}{'' if rule.workers is None else f'@{rule.workers}'}={rule.minimum:g} on {where}"
                mine = [r for r in group if r.renderer == name and not r.is_reference]
                if not mine:  # this renderer does not render this workload
                    continue
                if rule.workers is not None:
                    mine = [r for r in mine if r.workers == rule.workers]
                    if not mine:
                        found.append(Verdict(gate, label, Outcome.FAIL, f"no case with {rule.workers} workers ran", threshold=rule.minimum))
                        continue
                if reference is None or not reference.valid or reference.fps <= 0:
                    found.append(
                        Verdict(gate, label, Outcome.FAIL, "no valid reference measured in this run, speedup unknown", threshold=rule.minimum)
                    )
                    continue
                candidates = []
                for row in mine:
                    ratios = paired_speedups(row, reference) if row.valid else []
                    if ratios:
                        interval = stats.ratio_interval(ratios, confidence)
                        candidates.append(_Candidate(row, ratios, interval))
                if not candidates:
                    found.append(Verdict(gate, label, Outcome.FAIL, "no valid output, speedup does not count", threshold=rule.minimum))
                    continue
                found.append(_speedup_verdict(gate, label, rule, candidates, confidence))
    for rule in rules:
        if rule.renderer != "*" and not any(r.renderer == rule.renderer for r in rows):
            found.append(Verdict(gate, str(rule), Outcome.FAIL, f"renderer {rule.renderer!r} has no case in this run", threshold=rule.minimum))
    return found


def fps_drop_verdicts(current: Sequence[Row], previous: Sequence[Row], max_drop_percent: float, alpha: float) -> list[Verdict]:
    """One verdict per case present in both runs and valid in the saved one (see the module doc)."""
    gate = "max-fps-drop"
    before = {row.key: row for row in previous if row.valid and row.fps > 0}
    found: list[Verdict] = []
    for row in current:
        old = before.get(row.key)
        if old is None:
            continue
        if not row.valid:
            found.append(Verdict(gate, row.case_id, Outcome.FAIL, "output is invalid now (was valid in the saved run)", case=row.case_id))
            continue
        then = [x for x in (old.fps_all or (old.fps,)) if x > 0]
        now = [x for x in (row.fps_all or (row.fps,)) if x > 0]
        if not now:
            found.append(Verdict(gate, row.case_id, Outcome.FAIL, "no fps measured now", case=row.case_id))
            continue
        median_then, median_now = statistics.median(then), statistics.median(now)
        change = 100.0 * (median_now - median_then) / median_then
        test = stats.rank_test(then, now)
        numbers = (
            f"fps {median_now:.2f} vs {median_then:.2f} saved ({change:+.1f} %, allowed -{max_drop_percent:g} %; "
            f"rank test p={test.p_value:.3g} over {len(now)} and {len(then)} rounds)"
        )

        def verdict(outcome: Outcome, message: str, needed: int | None = None) -> Verdict:
            return Verdict(
                gate, row.case_id, outcome, message, case=row.case_id, estimate=median_now,
                threshold=max_drop_percent, rounds=len(now), saved_rounds=len(then), saved=median_then,
                change=change, p_value=test.p_value, rounds_needed=needed,
            )  # fmt: skip

        if -change <= max_drop_percent:
            found.append(verdict(Outcome.PASS, numbers))
        elif test.p_value < alpha:
            found.append(verdict(Outcome.FAIL, f"{numbers}: a significant drop"))
        else:
            needed = stats.rank_test_rounds(then, now, alpha)
            why = (
                f"{len(now)} and {len(then)} rounds cannot reach p < {alpha:g}"
                if test.p_floor >= alpha
                else f"not significant at {alpha:g}"
            )
            found.append(verdict(Outcome.INCONCLUSIVE, f"{numbers}: {why}; {_more(needed, min(len(now), len(then)), per_run=True)}", needed))
    return found


def counted_as_failures(verdicts: Iterable[Verdict], inconclusive_fails: bool) -> list[Verdict]:
    """The verdicts that fail the session."""
    bad = {Outcome.FAIL, Outcome.INCONCLUSIVE} if inconclusive_fails else {Outcome.FAIL}
    return [v for v in verdicts if v.outcome in bad]


def _verdict_cell(v: Verdict) -> str:
    if v.outcome is Outcome.INCONCLUSIVE:
        return f"inconclusive (~{v.rounds_needed} rounds)" if v.rounds_needed else "inconclusive"
    return str(v.outcome)


def speedup_table(verdicts: Sequence[Verdict], confidence: float) -> list[str]:
    """The speedup gate's verdicts as aligned text lines."""
    interval = f"{_percent(confidence)} interval"
    cells = [["rule", "case", "rounds", "speedup", interval, "required", "verdict"]]
    for v in verdicts:
        span = f"{v.low:.2f}x-{v.high:.2f}x" if v.low is not None and v.high is not None else "-"
        speedup = "-" if v.estimate is None else f"{v.estimate:.2f}x"
        required = "-" if v.threshold is None else f"{v.threshold:g}x"
        cells.append([v.subject.split(" on ")[0], v.case or "-", str(v.rounds), speedup, span, required, _verdict_cell(v)])
    return aligned(cells, {2, 3, 4, 5})


def fps_drop_table(verdicts: Sequence[Verdict]) -> list[str]:
    """The fps-drop gate's verdicts as aligned text lines."""
    cells = [["case", "rounds", "fps saved", "fps now", "change", "p", "verdict"]]
    for v in verdicts:
        rounds = f"{v.saved_rounds}/{v.rounds}" if v.saved_rounds is not None else str(v.rounds)
        cells.append([
            v.subject, rounds, "-" if v.saved is None else f"{v.saved:.2f}",
            "-" if v.estimate is None else f"{v.estimate:.2f}",
            "-" if v.change is None else f"{v.change:+.1f} %",
            "-" if v.p_value is None else f"{v.p_value:.3g}", _verdict_cell(v),
        ])  # fmt: skip
    return aligned(cells, {1, 2, 3, 4, 5})
