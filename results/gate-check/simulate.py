"""Why the gates use what they use: simulated coverage of the speedup interval, and the step finder's rates.

    .venv/bin/python results/gate-check/simulate.py     # writes results/gate-check/simulation.md (~1 min)

1. Paired log-speedups drawn from a normal distribution (5 % spread, which cancels most of a
   shared machine's drift but not all): how often the 95 % interval covers the true speedup,
   for Student's t interval (what the gate uses) and a bootstrap percentile interval, at the
   round counts a CI job affords.
2. Histories of 20 runs with 5 % noise: how often :func:`harness.steps.fit_steps` reports a
   step where there is none, and finds a 15 % step in the middle, 3 runs from the end, and in
   the last run alone.
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from harness.stats import ratio_interval  # noqa: E402
from harness.steps import fit_steps, steps  # noqa: E402

SPREAD = 0.05
TRIALS = 2000
RESAMPLES = 2000


def coverage(rounds: int, rng: np.random.Generator) -> tuple[float, float]:
    """(t, bootstrap percentile) coverage of a true speedup of 1.6 by their 95 % intervals."""
    truth = math.log(1.6)
    t_hits = boot_hits = 0
    for _ in range(TRIALS):
        logs = rng.normal(truth, SPREAD, rounds)
        interval = ratio_interval(list(np.exp(logs)), 0.95)
        assert interval is not None
        t_hits += interval.low <= 1.6 <= interval.high
        means = logs[rng.integers(0, rounds, (RESAMPLES, rounds))].mean(axis=1)
        low, high = np.quantile(means, [0.025, 0.975])
        boot_hits += low <= truth <= high
    return t_hits / TRIALS, boot_hits / TRIALS


def step_rate(size: float, at: int, runs: int = 20, noise: float = 0.05, trials: int = 300, seed: int = 1) -> float:
    """Share of histories in which a step (any, or the planted one at ``at``) is reported."""
    rng = random.Random(seed)
    found = 0
    for _ in range(trials):
        values = [10 * math.exp(rng.gauss(0, noise)) * ((1 - size) if i >= at else 1) for i in range(runs)]
        reported = steps(fit_steps(values))
        found += bool(reported) if size == 0 else any(s.index == at for s in reported)
    return found / trials


def main() -> int:
    rng = np.random.default_rng(7)
    lines = [
        "# Simulated: the speedup interval and the step finder",
        "",
        f"Written by `results/gate-check/simulate.py` (seeded). Paired log-speedups normal with a {100 * SPREAD:g} % "
        f"spread, {TRIALS} trials per round count, {RESAMPLES} bootstrap resamples:",
        "",
        "| rounds | t interval covers | bootstrap percentile covers |",
        "| ---: | ---: | ---: |",
    ]
    for rounds in (3, 5, 10):
        t_cover, boot_cover = coverage(rounds, rng)
        lines.append(f"| {rounds} | {100 * t_cover:.1f} % | {100 * boot_cover:.1f} % |")
    lines += [
        "",
        "Histories of 20 runs with 5 % noise, 300 each: a step reported where there is none, and a planted",
        "15 % step found at its place:",
        "",
        "| history | step reported |",
        "| --- | ---: |",
        f"| flat | {100 * step_rate(0.0, 10):.1f} % |",
        f"| 15 % step after run 10 | {100 * step_rate(0.15, 10):.1f} % |",
        f"| 15 % step after run 17 | {100 * step_rate(0.15, 17):.1f} % |",
        f"| 15 % step in the last run only | {100 * step_rate(0.15, 19):.1f} % |",
    ]
    text = "\n".join(lines) + "\n"
    (HERE / "simulation.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
