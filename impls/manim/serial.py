"""``manim-serial``: every scene rendered by the manim CLI one after another.

What a manim user does today, one ``manim`` run per scene, followed by exactly the same
assembly (held frames, join, one audio track) as the parallel renderers: the reference that
Manim speedups are measured against. It is ``manim-scenes`` with one worker, on this machine
(what a manim user runs).
"""

from __future__ import annotations

from functools import partial

from impls.manim.preflight import ManimOptions
from impls.manim.render import ManimRenderer
from impls.manim.scenes import render_scenes

renderer = ManimRenderer("manim-serial", ManimOptions, partial(render_scenes, workers=1))
