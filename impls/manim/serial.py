"""``manim-serial``: every scene rendered by the manim CLI one after another.

What a manim user does today, one ``manim`` run per scene, followed by exactly the same
assembly (held frames, join, one audio track) as the parallel renderers: the reference that
Manim speedups are measured against. It is ``manim-scenes`` with one worker, on this machine.
"""

from __future__ import annotations

from impls.manim.preflight import ManimOptions
from impls.manim.render import ManimRenderer, SceneRun
from impls.manim.scenes import render_each_scene


class Serial:
    name = "manim-serial"
    options = ManimOptions
    remote = False  # the reference: what a manim user runs on one machine

    def unavailable_reason(self, python: str) -> str | None:
        return None

    def render_scenes(self, run: SceneRun[ManimOptions]) -> None:
        render_each_scene(run, 1)


renderer = ManimRenderer(Serial())
