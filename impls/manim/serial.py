"""``manim-serial``: every scene rendered by the manim CLI one after another.

What a manim user does today, one ``manim`` run per scene, followed by exactly the same
assembly (held frames, join, one audio track) as the parallel renderers: the reference that
Manim speedups are measured against. It is :class:`ManimScenesRenderer` with one worker.
"""

from __future__ import annotations

from impls.manim.preflight import ManimPlan
from impls.manim.scenes import ManimScenesRenderer


class ManimSerialRenderer(ManimScenesRenderer):
    """One scene at a time, each in its own manim process."""

    name = "manim-serial"
    executors = ("local",)  # the reference: what a manim user runs on one machine

    def workers(self, plan: ManimPlan) -> int:
        return 1
