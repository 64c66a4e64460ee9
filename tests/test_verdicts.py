"""The gates' verdicts on injected round timings: pass, fail, inconclusive, and the words used."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import replace

import pytest

from harness.options import SpeedupRule
from harness.results import fill_speedups
from harness.verdicts import (
    Outcome,
    Verdict,
    counted_as_failures,
    fps_drop_table,
    fps_drop_verdicts,
    paired_speedups,
    speedup_table,
    speedup_verdicts,
)
from impls.model.results import Row

ENC = "libx264:medium:23"
WHERE = f"slideshow (full, {ENC})"

#: The reference's fps in 5 interleaved rounds: the machine drifts by 20 % over the run.
DRIFT = (5.0, 4.6, 4.2, 4.4, 5.0)


def row(renderer: str, workers: int, fps_all: Sequence[float], workload: str = "slideshow", valid: bool = True) -> Row:
    return Row(
        renderer=renderer, workers=workers, encoder=ENC, workload=workload, preset="full", executor="local",
        frames=300, fps=statistics.median(fps_all), fps_all=tuple(fps_all), valid=valid,
        reference="manim-serial" if workload == "explainer" else "baseline",
    )  # fmt: skip


def scaled(factors: Sequence[float], base: Sequence[float] = DRIFT) -> list[float]:
    return [b * f for b, f in zip(base, factors, strict=True)]


RUN = fill_speedups(
    [
        row("baseline", 1, DRIFT),
        row("chunk", 1, scaled([0.90, 0.92, 0.88, 0.91, 0.89])),
        row("chunk", 2, scaled([1.60, 1.62, 1.58, 1.61, 1.59])),
        row("pipe", 2, scaled([1.10, 1.45, 1.20, 1.35, 1.25])),
        row("disk", 2, scaled([1.9] * 5), valid=False),
        row("manim-serial", 1, (20.0, 21.0, 19.0, 20.5, 20.0), workload="explainer"),
        row("manim-scenes", 2, (26.0, 27.3, 24.7, 26.6, 26.0), workload="explainer"),
    ]
)


def by_subject(found: list[Verdict]) -> dict[str, Verdict]:
    return {v.subject: v for v in found}


def test_paired_speedups_cancel_the_drift_the_rounds_share() -> None:
    chunk = RUN[2]
    assert paired_speedups(chunk, RUN[0]) == pytest.approx([1.60, 1.62, 1.58, 1.61, 1.59])
    # Without per-round samples (an old saved run) the medians' ratio is all there is.
    assert paired_speedups(replace(chunk, fps_all=()), replace(RUN[0], fps_all=())) == pytest.approx([chunk.fps / RUN[0].fps])


def test_speedup_pass_fail_and_inconclusive() -> None:
    found = by_subject(
        speedup_verdicts(RUN, [SpeedupRule("chunk", 1.5), SpeedupRule("chunk", 1.7, workers=2), SpeedupRule("pipe", 1.2)], 0.95)
    )
    passed = found[f"chunk=1.5 on {WHERE}"]
    assert passed.outcome is Outcome.PASS and passed.case == "chunk-w2-libx264:medium:23-slideshow"
    assert passed.low is not None and passed.low >= 1.5 and passed.rounds == 5
    assert str(passed).startswith(
        f"chunk=1.5 on {WHERE}: pass: speedup 1.60x (w2, 95 % interval 1.58x-1.62x over 5 paired rounds) >= required 1.5x"
    )
    failed = found[f"chunk@2=1.7 on {WHERE}"]
    assert failed.outcome is Outcome.FAIL and failed.high is not None and failed.high < 1.7
    assert "< required 1.7x" in failed.message
    # pipe's rounds spread from 1.10x to 1.45x: its interval straddles 1.2x.
    undecided = found[f"pipe=1.2 on {WHERE}"]
    assert undecided.outcome is Outcome.INCONCLUSIVE
    assert undecided.low is not None and undecided.high is not None and undecided.low < 1.2 < undecided.high
    assert undecided.rounds_needed is not None and undecided.rounds_needed > 5
    assert f"straddles required 1.2x: about {undecided.rounds_needed} rounds would likely decide ({undecided.rounds_needed - 5} more)" in undecided.message


def test_speedup_passes_at_the_best_worker_count_and_fails_only_when_every_count_is_below() -> None:
    found = speedup_verdicts(RUN, [SpeedupRule("chunk", 1.3), SpeedupRule("chunk", 1.3, workers=1)], 0.95)
    assert [(v.subject, v.outcome) for v in found] == [
        (f"chunk=1.3 on {WHERE}", Outcome.PASS),
        (f"chunk@1=1.3 on {WHERE}", Outcome.FAIL),
    ]
    # Every worker count below the threshold: fail, on the best of them.
    (high,) = speedup_verdicts(RUN, [SpeedupRule("chunk", 2.0)], 0.95)
    assert high.outcome is Outcome.FAIL and high.case == "chunk-w2-libx264:medium:23-slideshow"


def test_a_gate_that_cannot_be_checked_fails() -> None:
    found = speedup_verdicts(RUN, [SpeedupRule("disk", 1.0), SpeedupRule("chunk", 1.0, workers=4), SpeedupRule("ray", 1.0)], 0.95)
    assert [str(v) for v in found] == [
        f"disk=1 on {WHERE}: fail: no valid output, speedup does not count",
        f"chunk@4=1 on {WHERE}: fail: no case with 4 workers ran",
        "ray=1: fail: renderer 'ray' has no case in this run",
    ]
    no_reference = [r for r in RUN if r.renderer != "baseline"]
    (missing,) = speedup_verdicts(no_reference, [SpeedupRule("chunk", 1.0)], 0.95)
    assert str(missing) == f"chunk=1 on {WHERE}: fail: no valid reference measured in this run, speedup unknown"
    # One round has no spread: inconclusive, however large the speedup.
    one_round = [replace(r, fps_all=r.fps_all[:1]) for r in RUN]
    (single,) = speedup_verdicts(one_round, [SpeedupRule("chunk", 1.0)], 0.95)
    assert single.outcome is Outcome.INCONCLUSIVE and "from 1 round: no spread to judge it by" in single.message


def test_star_rule_checks_every_renderer_of_every_workload() -> None:
    found = speedup_verdicts(RUN, [SpeedupRule("*", 1.2)], 0.95)
    assert [(v.subject.split(" on ")[0], v.outcome) for v in found] == [
        ("chunk=1.2", Outcome.PASS),
        ("disk=1.2", Outcome.FAIL),
        ("pipe=1.2", Outcome.INCONCLUSIVE),
        ("manim-scenes=1.2", Outcome.PASS),
    ]


def test_fps_drop_needs_a_large_and_significant_drop() -> None:
    slower = [replace(r, fps_all=tuple(x * 0.8 for x in r.fps_all), fps=r.fps * 0.8) if r.renderer == "chunk" else r for r in RUN]
    found = by_subject(fps_drop_verdicts(slower, RUN, 10.0, 0.05))
    dropped = found["chunk-w2-libx264:medium:23-slideshow"]
    assert dropped.outcome is Outcome.FAIL and dropped.change == pytest.approx(-20.0)
    # The drift is the same in both runs: 5 rounds against 5, separated: p = 2/252.
    assert dropped.p_value == pytest.approx(2 / 252)
    assert dropped.message.endswith("(-20.0 %, allowed -10 %; rank test p=0.00794 over 5 and 5 rounds): a significant drop")
    assert found["pipe-w2-libx264:medium:23-slideshow"].outcome is Outcome.PASS
    # Invalid in the saved run: nothing to compare with.
    assert "disk-w2-libx264:medium:23-slideshow" not in found

    # A drop within the allowed effect size passes, however significant.
    assert all(v.outcome is Outcome.PASS for v in fps_drop_verdicts(slower, RUN, 25.0, 0.05))


def test_fps_drop_inconclusive_says_what_would_decide() -> None:
    one = [replace(r, fps_all=r.fps_all[:1], fps=r.fps_all[0]) for r in RUN]
    slower = [replace(r, fps_all=(r.fps * 0.8,), fps=r.fps * 0.8) for r in one]
    undecided = by_subject(fps_drop_verdicts(slower, one, 10.0, 0.05))["chunk-w2-libx264:medium:23-slideshow"]
    assert undecided.outcome is Outcome.INCONCLUSIVE
    assert "1 and 1 rounds cannot reach p < 0.05" in undecided.message
    assert "more rounds than 1000 per run would be needed, or the spread is unknown" in undecided.message

    # Overlapping rounds: a 20 % lower median, not significant.
    noisy_before = row("pipe", 2, (6.0, 7.5, 5.0, 6.5, 5.5))
    noisy_now = row("pipe", 2, (4.0, 6.0, 5.2, 4.4, 6.8))
    (verdict,) = fps_drop_verdicts([noisy_now], [noisy_before], 10.0, 0.05)
    assert verdict.outcome is Outcome.INCONCLUSIVE and verdict.p_value is not None and verdict.p_value > 0.05
    assert verdict.rounds_needed is not None and verdict.rounds_needed > 5
    assert f"not significant at 0.05; about {verdict.rounds_needed} rounds per run would likely decide" in verdict.message

    broken = [replace(r, valid=False) if r.renderer == "pipe" else r for r in RUN]
    assert [str(v) for v in fps_drop_verdicts(broken, RUN, 10.0, 0.05) if v.outcome is not Outcome.PASS] == [
        "pipe-w2-libx264:medium:23-slideshow: fail: output is invalid now (was valid in the saved run)"
    ]


def test_inconclusive_policy_and_tables() -> None:
    found = speedup_verdicts(RUN, [SpeedupRule("chunk", 1.5), SpeedupRule("pipe", 1.2), SpeedupRule("chunk", 2.0)], 0.95)
    assert [v.outcome for v in counted_as_failures(found, inconclusive_fails=True)] == [Outcome.INCONCLUSIVE, Outcome.FAIL]
    assert [v.outcome for v in counted_as_failures(found, inconclusive_fails=False)] == [Outcome.FAIL]

    lines = speedup_table(found, 0.95)
    assert lines[0].split() == ["rule", "case", "rounds", "speedup", "95", "%", "interval", "required", "verdict"]
    assert lines[2].split() == ["chunk=1.5", "chunk-w2-libx264:medium:23-slideshow", "5", "1.60x", "1.58x-1.62x", "1.5x", "pass"]
    assert lines[3].endswith(f"1.2x  inconclusive (~{found[1].rounds_needed} rounds)")

    slower = [replace(r, fps_all=tuple(x * 0.8 for x in r.fps_all), fps=r.fps * 0.8) for r in RUN[:3]]
    drop_lines = fps_drop_table(fps_drop_verdicts(slower, RUN, 10.0, 0.05))
    assert drop_lines[0].split() == ["case", "rounds", "fps", "saved", "fps", "now", "change", "p", "verdict"]
    assert drop_lines[2].split() == ["baseline-w1-libx264:medium:23-slideshow", "5/5", "4.60", "3.68", "-20.0", "%", "0.00794", "fail"]
    assert found[0].as_dict()["outcome"] == "pass"
