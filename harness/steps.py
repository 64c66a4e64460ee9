"""Steps in a history of measurements: a penalized piecewise-constant fit, as asv finds them.

A case's fps over successive runs is modelled as levels plus noise. :func:`fit_steps` picks the
segmentation that minimises the sum of absolute deviations from each segment's median plus a
penalty per segment (optimal partitioning, exact, O(n^3) for n runs: fine for the hundreds
of runs a history holds). It works on logarithms, so a step is a ratio and noise is relative.

The penalty is ``PENALTY * noise * ln(n)``, a BIC-like choice with the noise measured from the
data (the spread of run-to-run differences, robust to the steps themselves). Levels closer
than ``min_step`` are merged afterwards: a step smaller than that is not worth a person's time.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: Multiplier of the per-segment penalty, in units of the noise times ln(n). With noise of a
#: few percent a lone outlier stays unsegmented while a 3-run shift of 4 noise widths is found.
PENALTY = 3.0

#: Noise is never taken as smaller than this (relative): identical values would make any
#: difference a step.
NOISE_FLOOR = 0.005


@dataclass(frozen=True)
class Segment:
    """Runs ``start`` to ``end - 1`` at ``level`` (in the values' own units)."""

    start: int
    end: int
    level: float


@dataclass(frozen=True)
class Step:
    """A change of level before run ``index``: ``before`` -> ``after``."""

    index: int
    before: float
    after: float

    @property
    def change(self) -> float:
        """Relative change, e.g. -0.18 for 18 % lower."""
        return self.after / self.before - 1


def noise_scale(logs: Sequence[float]) -> float:
    """Robust scale of the noise in ``logs``: the median absolute run-to-run difference / (0.6745 * sqrt 2)."""
    if len(logs) < 2:
        return NOISE_FLOOR
    differences = [abs(b - a) for a, b in zip(logs, logs[1:])]
    return max(NOISE_FLOOR, statistics.median(differences) / (0.6745 * math.sqrt(2)))


def _costs(logs: Sequence[float]) -> list[list[float]]:
    """cost[i][j]: sum of |x - median| over logs[i:j] (j > i)."""
    n = len(logs)
    cost = [[0.0] * (n + 1) for _ in range(n + 1)]
    for start in range(n):
        ordered: list[float] = []
        for end in range(start + 1, n + 1):
            bisect.insort(ordered, logs[end - 1])
            middle = ordered[len(ordered) // 2]
            cost[start][end] = sum(abs(x - middle) for x in ordered)
    return cost


def _merge(logs: Sequence[float], bounds: list[int], min_step: float) -> list[int]:
    """Drop boundaries between levels closer than ``min_step``, closest first."""
    limit = math.log1p(min_step)
    while len(bounds) > 2:
        levels = [statistics.median(logs[a:b]) for a, b in zip(bounds, bounds[1:])]
        gaps = [abs(b - a) for a, b in zip(levels, levels[1:])]
        smallest = min(range(len(gaps)), key=gaps.__getitem__)
        if gaps[smallest] >= limit:
            break
        del bounds[smallest + 1]
    return bounds


def fit_steps(values: Sequence[float], min_step: float = 0.05, penalty: float = PENALTY) -> list[Segment]:
    """The piecewise-constant fit of positive ``values`` (see the module doc); one segment per level."""
    if not values:
        return []
    if any(not (v > 0 and math.isfinite(v)) for v in values):
        raise ValueError("values must be positive and finite")
    logs = [math.log(v) for v in values]
    n = len(logs)
    gamma = penalty * noise_scale(logs) * math.log(n + 1)
    cost = _costs(logs)
    best = [0.0] + [math.inf] * n  # best[j]: the cheapest fit of logs[:j]
    last = [0] * (n + 1)  # where the last segment of that fit starts
    for end in range(1, n + 1):
        for start in range(end):
            total = best[start] + cost[start][end] + gamma
            if total < best[end]:
                best[end], last[end] = total, start
    bounds = [n]
    while bounds[-1] > 0:
        bounds.append(last[bounds[-1]])
    bounds = _merge(logs, bounds[::-1], min_step)
    return [
        Segment(a, b, math.exp(statistics.median(logs[a:b]))) for a, b in zip(bounds, bounds[1:])
    ]


def steps(segments: Sequence[Segment]) -> list[Step]:
    """The changes of level between consecutive segments."""
    return [Step(b.start, a.level, b.level) for a, b in zip(segments, segments[1:])]
