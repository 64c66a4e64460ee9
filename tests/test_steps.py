"""Step detection on planted histories: steps found where they are, noise left alone."""

from __future__ import annotations

import math
import random

import pytest

from harness.steps import Segment, fit_steps, noise_scale, steps


def noisy(levels: list[tuple[int, float]], noise: float = 0.02, seed: int = 1) -> list[float]:
    """``count`` runs at each ``level``, with relative Gaussian noise."""
    rng = random.Random(seed)
    return [level * math.exp(rng.gauss(0, noise)) for count, level in levels for _ in range(count)]


def test_a_clear_step_is_found_where_it_is() -> None:
    values = noisy([(8, 10.0), (6, 8.0)])
    fit = fit_steps(values)
    assert [(s.start, s.end) for s in fit] == [(0, 8), (8, 14)]
    assert fit[0].level == pytest.approx(10.0, rel=0.03) and fit[1].level == pytest.approx(8.0, rel=0.03)
    (step,) = steps(fit)
    assert step.index == 8 and step.change == pytest.approx(-0.2, abs=0.03)


def test_noise_alone_gives_one_level() -> None:
    for seed in range(20):
        assert len(fit_steps(noisy([(20, 5.0)], noise=0.05, seed=seed))) == 1


def test_two_steps_and_a_lone_outlier() -> None:
    values = noisy([(6, 10.0), (6, 13.0), (6, 9.0)])
    assert [s.start for s in fit_steps(values)] == [0, 6, 12]
    # One slow run among steady ones is an outlier, not two steps.
    values = noisy([(10, 10.0)])
    values[5] *= 0.8
    assert len(fit_steps(values)) == 1


def test_small_level_changes_are_merged() -> None:
    values = [10.0] * 6 + [10.3] * 6  # a 3 % step in a noiseless history
    assert len(fit_steps(values, min_step=0.0)) == 2
    assert fit_steps(values, min_step=0.05) == [Segment(0, 12, pytest.approx(10.0, rel=0.03))]  # type: ignore[arg-type]


def test_edges() -> None:
    assert fit_steps([]) == []
    assert fit_steps([4.0]) == [Segment(0, 1, pytest.approx(4.0))]  # type: ignore[arg-type]
    assert noise_scale([1.0]) == 0.005
    with pytest.raises(ValueError, match="positive"):
        fit_steps([1.0, 0.0])
