"""The gates' statistics on known values: t quantiles, the ratio interval, the rank test, rounds needed."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest

from harness.stats import (
    min_p_value,
    rank_test,
    rank_test_rounds,
    ratio_interval,
    rounds_to_decide,
    t_cdf,
    t_quantile,
)


@pytest.mark.parametrize(
    ("q", "df", "expected"),
    [(0.975, 1, 12.706205), (0.975, 2, 4.302653), (0.975, 4, 2.776445), (0.8, 4, 0.940965), (0.995, 9, 3.249836), (0.975, 120, 1.979930)],
    ids=["df1", "df2", "df4", "power-df4", "df9", "df120"],
)
def test_t_quantiles_match_the_tables(q: float, df: int, expected: float) -> None:
    assert t_quantile(q, df) == pytest.approx(expected, abs=1e-6)
    assert t_quantile(1 - q, df) == pytest.approx(-expected, abs=1e-6)
    assert t_cdf(expected, df) == pytest.approx(q, abs=1e-7)


def test_ratio_interval_is_students_t_on_the_logarithms() -> None:
    ratios = [math.exp(x) for x in (0.0, 0.1, 0.2)]  # log mean 0.1, sd 0.1
    interval = ratio_interval(ratios, 0.95)
    assert interval is not None
    half = 4.302653 * 0.1 / math.sqrt(3)
    assert interval.estimate == pytest.approx(math.exp(0.1))
    assert interval.low == pytest.approx(math.exp(0.1 - half))
    assert interval.high == pytest.approx(math.exp(0.1 + half))
    assert (interval.rounds, interval.confidence) == (3, 0.95)
    assert ratio_interval([1.5], 0.95) is None  # one round: no spread to judge by
    with pytest.raises(ValueError, match="positive and finite"):
        ratio_interval([1.0, 0.0], 0.95)


def test_rounds_to_decide_are_enough_if_mean_and_spread_hold() -> None:
    ratios = [1.10, 1.40, 1.25]  # straddles 1.2 at 95 %
    interval = ratio_interval(ratios, 0.95)
    assert interval is not None and interval.low < 1.2 < interval.high
    needed = rounds_to_decide(ratios, 1.2, 0.95)
    assert needed is not None and needed > 3
    # The same mean and spread measured over `needed` rounds put the interval above 1.2.
    logs = [math.log(r) for r in ratios]
    mean, spread = statistics.fmean(logs), statistics.stdev(logs)
    half = t_quantile(0.975, needed - 1) * spread / math.sqrt(needed)
    assert math.exp(mean - half) > 1.2
    # A threshold further away needs fewer rounds; one on the mean can never be settled.
    further = rounds_to_decide(ratios, 1.1, 0.95)
    assert further is not None and further < needed
    assert rounds_to_decide([1.2, 1.2], 1.2, 0.95) is None
    assert rounds_to_decide([1.3], 1.2, 0.95) is None


def _pairs_u(after: list[float], before: list[float]) -> float:
    return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in after for b in before)


def _brute_p(before: list[float], after: list[float]) -> float:
    """The two-sided permutation p-value, counting pairs rather than ranks."""
    pooled = after + before
    m, centre = len(after), len(after) * len(before) / 2
    observed = abs(_pairs_u(after, before) - centre)
    splits = list(itertools.combinations(range(len(pooled)), m))
    extreme = 0
    for chosen in splits:
        a = [pooled[i] for i in chosen]
        b = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        extreme += abs(_pairs_u(a, b) - centre) >= observed
    return extreme / len(splits)


def test_rank_test_known_cases() -> None:
    # Completely separated samples: the smallest p-value their sizes allow.
    separated = rank_test([5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 4.0])
    assert separated.u == 0.0 and separated.p_value == pytest.approx(2 / 70)
    assert separated.p_floor == pytest.approx(2 / 70)
    assert rank_test([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]).p_value == pytest.approx(0.1)
    assert min_p_value(3, 3) == pytest.approx(0.1) and min_p_value(5, 5) == pytest.approx(2 / 252)
    assert min_p_value(1, 1) == 1.0
    # Interleaved samples: nothing to tell apart.
    assert rank_test([1.0, 3.0, 5.0, 7.0], [2.0, 4.0, 6.0, 8.0]).p_value == pytest.approx(0.6857142857)
    assert rank_test([4.0, 4.0, 4.0], [4.0, 4.0, 4.0]).p_value == 1.0


def test_rank_test_with_ties_is_the_exact_permutation_p_value() -> None:
    before, after = [1.0, 2.0, 3.0, 3.0], [3.0, 6.0, 7.0, 8.0]
    result = rank_test(before, after)
    assert result.u == _pairs_u(after, before) == 15.0
    assert result.p_value == pytest.approx(_brute_p(before, after))
    before, after = [2.0, 2.0, 5.0], [2.0, 5.0, 5.0, 9.0]
    assert rank_test(before, after).p_value == pytest.approx(_brute_p(before, after))


def test_rank_test_uses_the_normal_approximation_for_large_samples() -> None:
    before = [float(x) for x in range(12)]
    after = [x + 6.5 for x in before]
    result = rank_test(before, after)
    # U = 129 of 144; mean 72, variance 12 * 12 * 25 / 12 = 300; continuity-corrected z = 3.26.
    assert result.u == 129.0
    assert result.p_value == pytest.approx(math.erfc((57 - 0.5) / math.sqrt(300) / math.sqrt(2)))


def test_rank_test_rounds() -> None:
    # At alpha 0.05, 3 rounds per run can never be significant: 4 is the floor.
    assert rank_test_rounds([10.0, 10.1, 9.9], [8.0, 8.1, 7.9], 0.05) == 4
    noisy = rank_test_rounds([10.0, 12.0, 8.5], [9.0, 11.0, 7.5], 0.05)
    assert noisy is not None and noisy > 10
    assert rank_test_rounds([10.0], [8.0], 0.05) is None  # no spread to judge by
    assert rank_test_rounds([10.0, 11.0], [11.0, 10.0], 0.05) is None  # no change
