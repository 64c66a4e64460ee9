"""The statistics behind the fps gates' verdicts. Pure functions over round samples.

- :func:`ratio_interval`: a confidence interval for a speedup from paired per-round ratios
  (a case's fps over its reference's fps in the same round). It is Student's t interval on
  the logarithms, so the estimate is the geometric mean of the ratios and the interval is
  multiplicative; :func:`rounds_to_decide` turns its width into the rounds that would likely
  put it on one side of a threshold.
- :func:`rank_test`: the Mann-Whitney U test (two-sided) between the round samples of two runs,
  exact for the sample sizes a benchmark has (ties included); :func:`rank_test_rounds` says how
  many rounds per run would likely make an observed difference significant.

Why t and not a bootstrap: gates run 3 to 10 rounds. A bootstrap percentile interval cannot
reach beyond the observed ratios and undercovers at those sizes, while the t interval is exact
when the log-ratios are normal and widens honestly when there are few of them.

Both are small enough to keep here rather than import SciPy for (a second's import, and C
extensions a pytest plugin would load into every test run): Student's t for the whole
degrees of freedom a number of rounds gives, and the null distribution of U by enumerating
the splits of the two samples.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

#: Chance that the rounds suggested to settle a question would settle it, if the effect and
#: the spread stay what they were measured to be.
POWER = 0.8

#: Suggestions beyond this many rounds are reported as "more than" it.
MAX_ROUNDS = 1000

#: Up to this many ways of splitting two samples (8 and 8 rounds: 12 870) the rank test's
#: p-value is exact; beyond, the normal approximation is close.
EXACT_SPLITS = 20_000


def t_cdf(x: float, df: int) -> float:
    """Student's t distribution function for whole ``df`` (closed form, Abramowitz & Stegun 26.7.3-4)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    theta = math.atan(abs(x) / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    # P(|T| <= |x|) as a finite series in cos(theta).
    if df % 2:
        term, total = math.cos(theta), 0.0
        for k in range(1, (df - 1) // 2 + 1):
            total += term
            term *= cos2 * (2 * k) / (2 * k + 1)
        inside = 2 / math.pi * (theta + (math.sin(theta) * total if df > 1 else 0.0))
    else:
        term, total = 1.0, 0.0
        for k in range(1, df // 2 + 1):
            total += term
            term *= cos2 * (2 * k - 1) / (2 * k)
        inside = math.sin(theta) * total
    return 0.5 + math.copysign(inside / 2, x)


def t_quantile(q: float, df: int) -> float:
    """The ``q`` quantile of Student's t with ``df`` degrees of freedom (bisection on :func:`t_cdf`)."""
    if not 0 < q < 1:
        raise ValueError(f"quantile must be between 0 and 1, got {q}")
    if q < 0.5:
        return -t_quantile(1 - q, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < q:
        low, high = high, 2 * high
    for _ in range(100):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        low, high = (middle, high) if t_cdf(middle, df) < q else (low, middle)
    return (low + high) / 2


_t = t_quantile


@dataclass(frozen=True)
class RatioInterval:
    """Geometric mean of paired ratios with its two-sided confidence interval."""

    estimate: float
    low: float
    high: float
    rounds: int
    confidence: float


def _logs(ratios: Sequence[float]) -> list[float]:
    bad = [r for r in ratios if not (r > 0 and math.isfinite(r))]
    if bad:
        raise ValueError(f"ratios must be positive and finite, got {bad[0]!r}")
    return [math.log(r) for r in ratios]


def ratio_interval(ratios: Sequence[float], confidence: float) -> RatioInterval | None:
    """The ``confidence`` interval of the geometric mean of ``ratios``; None below 2 ratios."""
    logs = _logs(ratios)
    n = len(logs)
    if n < 2:
        return None
    mean = statistics.fmean(logs)
    half = _t(1 - (1 - confidence) / 2, n - 1) * statistics.stdev(logs) / math.sqrt(n)
    return RatioInterval(math.exp(mean), math.exp(mean - half), math.exp(mean + half), n, confidence)


def rounds_to_decide(ratios: Sequence[float], threshold: float, confidence: float, power: float = POWER) -> int | None:
    """Rounds in all after which the interval would likely lie on one side of ``threshold``.

    Assumes the geometric mean and the spread stay as measured; "likely" is ``power``. None
    when it cannot be estimated: fewer than 2 ratios, the mean exactly on the threshold, or
    more than :data:`MAX_ROUNDS` rounds.
    """
    logs = _logs(ratios)
    n = len(logs)
    if n < 2:
        return None
    distance = abs(statistics.fmean(logs) - math.log(threshold))
    spread = statistics.stdev(logs)
    if spread == 0:
        return n if distance > 0 else None
    if distance == 0:
        return None

    def decides(k: int) -> bool:
        return (_t(1 - (1 - confidence) / 2, k - 1) + _t(power, k - 1)) * spread / math.sqrt(k) < distance

    if not decides(MAX_ROUNDS):
        return None
    low, high = max(2, n) - 1, MAX_ROUNDS  # decides(high), and the margin shrinks as k grows
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if decides(middle) else (middle, high)
    return max(high, n)


@dataclass(frozen=True)
class RankTest:
    """A two-sided Mann-Whitney U test of ``after`` against ``before``."""

    u: float  # U of ``after``: pairs (a, b) with a > b, ties counting one half
    p_value: float
    p_floor: float  # the smallest p-value samples of these sizes can give at all


def min_p_value(m: int, n: int) -> float:
    """The two-sided p-value of two completely separated samples of sizes ``m`` and ``n``."""
    return min(1.0, 2 / math.comb(m + n, m)) if m and n else 1.0


def _midranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def rank_test(before: Sequence[float], after: Sequence[float]) -> RankTest:
    """Mann-Whitney U of ``after`` vs ``before``, two-sided; ties count one half.

    The p-value is the share of all ways of splitting the pooled values into samples of these
    sizes whose U lies at least as far from its mean ``m*n/2`` as the observed one: exact, ties
    included, up to :data:`EXACT_SPLITS` splits; beyond, the normal approximation with the tie
    and continuity corrections.
    """
    m, n = len(after), len(before)
    if not m or not n:
        raise ValueError("both samples need at least one value")
    ranks = _midranks([*after, *before])
    offset = m * (m + 1) / 2
    u = sum(ranks[:m]) - offset
    centre = m * n / 2
    distance = abs(u - centre)
    floor = min_p_value(n, m)
    if math.comb(m + n, m) <= EXACT_SPLITS:
        # A hair of tolerance: sums of half-ranks are exact in binary, but stay safe.
        extreme = sum(
            1 for chosen in itertools.combinations(ranks, m) if abs(sum(chosen) - offset - centre) >= distance - 1e-9
        )
        return RankTest(u, min(1.0, extreme / math.comb(m + n, m)), floor)
    total = m + n
    ties = sum(c**3 - c for c in _counts(ranks))
    variance = m * n / 12 * ((total + 1) - ties / (total * (total - 1)))
    if variance <= 0:
        return RankTest(u, 1.0, floor)
    z = max(0.0, distance - 0.5) / math.sqrt(variance)
    return RankTest(u, min(1.0, math.erfc(z / math.sqrt(2))), floor)


def _counts(values: Sequence[float]) -> list[int]:
    found: dict[float, int] = {}
    for value in values:
        found[value] = found.get(value, 0) + 1
    return list(found.values())


def rank_test_rounds(before: Sequence[float], after: Sequence[float], alpha: float, power: float = POWER) -> int | None:
    """Rounds per run after which the observed change would likely be significant at ``alpha``.

    A normal-theory estimate on the logarithms (the U test's efficiency there is 3/pi),
    never below the fewest rounds that can reach ``p < alpha`` at all. None without a change,
    without a spread to judge it by (one value per run), or beyond :data:`MAX_ROUNDS`.
    """
    logs_before, logs_after = _logs(before), _logs(after)
    distance = abs(statistics.median(logs_after) - statistics.median(logs_before))
    if distance == 0:
        return None
    floor = next((k for k in range(1, MAX_ROUNDS + 1) if min_p_value(k, k) < alpha), None)
    if floor is None:
        return None
    deviations = [x - statistics.fmean(s) for s in (logs_before, logs_after) if len(s) > 1 for x in s]
    dof = len(deviations) - sum(1 for s in (logs_before, logs_after) if len(s) > 1)
    if dof < 1:
        return None
    spread = math.sqrt(sum(d * d for d in deviations) / dof)
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    per_run = math.ceil(2 * (z * spread / distance) ** 2 * math.pi / 3)
    wanted = max(per_run, floor, len(before), len(after))
    return wanted if wanted <= MAX_ROUNDS else None
