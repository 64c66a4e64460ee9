"""A renderer slowed on purpose, for the fps gate's false-alarm check and nothing else.

Loaded only as a pytest plugin by ``results/gate-check/run.py`` (``-p gate_check_slowed`` with
this folder on ``PYTHONPATH``); nothing in the package imports it, so normal renders are never
slowed. It registers ``<renderer>-slowed`` (``chunk-slowed`` by default): the same render as
``<renderer>``, then a wait of ``wall * s / (1 - s)``, which makes its fps exactly ``1 - s``
times what the render alone reached (``s`` = 0.2: 20 % fewer frames per second, a quarter of
the render's time added). A wait proportional to each render slows it alike on any machine and
in any round; the output is the real renderer's, so it validates as usual.

Environment: ``RENDERBENCH_SLOWED_RENDERER`` (default ``chunk``), ``RENDERBENCH_SLOWDOWN``
(default ``0.2``).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any

import pytest

from impls.model.protocol import Renderer, RenderJob, RenderResult, Source
from impls.registry import RENDERERS


class Slowed:
    """``inner``'s render followed by a wait that takes ``slowdown`` off its fps."""

    def __init__(self, inner: Renderer, slowdown: float) -> None:
        if not 0 <= slowdown < 1:
            raise ValueError(f"slowdown must be in [0, 1), got {slowdown}")
        self.inner = inner
        self.slowdown = slowdown
        self.name = f"{inner.name}-slowed"

    def supports(self, source: Source) -> bool:
        return self.inner.supports(source)

    def render(self, job: RenderJob) -> RenderResult:
        started = time.perf_counter()
        result = self.inner.render(job)
        wall = time.perf_counter() - started
        time.sleep(wall * self.slowdown / (1 - self.slowdown))
        return replace(result, renderer=self.name, wall=time.perf_counter() - started)

    def __getattr__(self, name: str) -> Any:
        # unavailable_reason, executor_reason: whatever optional answers the real one gives.
        return getattr(self.inner, name)


def pytest_configure(config: pytest.Config) -> None:
    inner = RENDERERS[os.environ.get("RENDERBENCH_SLOWED_RENDERER", "chunk")]
    RENDERERS.register(Slowed(inner, float(os.environ.get("RENDERBENCH_SLOWDOWN", "0.2"))))
