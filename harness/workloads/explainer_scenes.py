"""The Manim explainer's scenes: shapes, transforms, Text, updaters; no LaTeX needed.

Rendered by the ``manim`` CLI as a script (``manim explainer_scenes.py Intro ...``); the
scenes have different lengths so that scheduling them on workers is not trivially balanced.
Updaters depend on trackers, not on accumulated ``dt``, so rendering a range of animations
(``-n``) gives the same frames as rendering the scene whole.
"""

from __future__ import annotations

import numpy as np
from manim import (
    BLUE,
    DOWN,
    GREEN,
    LEFT,
    ORANGE,
    PI,
    RED,
    RIGHT,
    UP,
    WHITE,
    YELLOW,
    Axes,
    Circle,
    Create,
    Dot,
    FadeIn,
    FadeOut,
    Line,
    NumberLine,
    ReplacementTransform,
    Rotate,
    Scene,
    Square,
    Star,
    Text,
    Transform,
    Triangle,
    ValueTracker,
    VGroup,
    Write,
    always_redraw,
)


class Intro(Scene):
    """About 3 s: a title written, a subtitle faded in, both faded out."""

    def construct(self) -> None:
        title = Text("renderbench", font_size=72)
        subtitle = Text("parallel Manim rendering", font_size=36, color=BLUE).next_to(title, DOWN)
        self.play(Write(title), run_time=1.2)
        self.play(FadeIn(subtitle, shift=UP * 0.3), run_time=0.8)
        self.wait(0.5)
        self.play(FadeOut(title), FadeOut(subtitle), run_time=0.5)


class Shapes(Scene):
    """About 6 s: a circle becomes a square, a triangle, a star; rotations and colours."""

    def construct(self) -> None:
        circle = Circle(radius=1.5, color=BLUE, fill_opacity=0.5)
        self.play(Create(circle), run_time=1.0)
        square = Square(side_length=2.8, color=GREEN, fill_opacity=0.5)
        self.play(Transform(circle, square), run_time=1.0)
        self.play(Rotate(circle, PI / 4), run_time=0.8)
        triangle = Triangle(color=ORANGE, fill_opacity=0.6).scale(1.8)
        self.play(ReplacementTransform(circle, triangle), run_time=1.0)
        star = Star(n=7, outer_radius=2.0, color=YELLOW, fill_opacity=0.6)
        self.play(Transform(triangle, star), run_time=1.0)
        row = VGroup(*[Square(0.8, color=c, fill_opacity=0.8) for c in (RED, GREEN, BLUE, WHITE)])
        self.play(ReplacementTransform(triangle, row.arrange(RIGHT, buff=0.4)), run_time=0.8)
        self.play(FadeOut(row), run_time=0.4)


class Tracker(Scene):
    """About 7 s: a value tracker drives a dot, a line and a label (updaters)."""

    def construct(self) -> None:
        line = NumberLine(x_range=[0, 10, 1], length=10)
        value = ValueTracker(0.0)
        dot = always_redraw(lambda: Dot(line.n2p(value.get_value()), color=YELLOW, radius=0.15))
        stem = always_redraw(
            lambda: Line(line.n2p(value.get_value()) + UP * 1.6, line.n2p(value.get_value()), color=YELLOW)
        )
        label = always_redraw(
            lambda: Text(f"x = {value.get_value():.1f}", font_size=32).next_to(stem, UP)
        )
        self.play(Create(line), run_time=0.8)
        self.add(dot, stem, label)
        self.play(value.animate.set_value(7.5), run_time=2.0)
        self.wait(0.6)  # updaters keep running: not a frozen frame
        self.play(value.animate.set_value(2.5), run_time=1.5)
        self.play(value.animate.set_value(5.0), run_time=1.2)
        self.play(FadeOut(VGroup(line, dot, stem, label)), run_time=0.5)


class Graph(Scene):
    """About 9 s, the longest: axes, a plotted curve, a dot riding it, a transform."""

    def construct(self) -> None:
        axes = Axes(x_range=[0, 2 * PI, 1], y_range=[-1.5, 1.5, 0.5], x_length=10, y_length=5)
        sine = axes.plot(np.sin, color=BLUE)
        cosine = axes.plot(np.cos, color=RED)
        position = ValueTracker(0.0)
        rider = always_redraw(
            lambda: Dot(axes.c2p(position.get_value(), np.sin(position.get_value())), color=YELLOW)
        )
        name = Text("sin x", font_size=36, color=BLUE).to_corner(UP + LEFT)
        self.play(Create(axes), run_time=1.2)
        self.play(Create(sine), Write(name), run_time=1.5)
        self.add(rider)
        self.play(position.animate.set_value(2 * PI), run_time=3.0)
        self.remove(rider)
        self.play(
            Transform(sine, cosine),
            Transform(name, Text("cos x", font_size=36, color=RED).to_corner(UP + LEFT)),
            run_time=1.5,
        )
        self.wait(0.8)
        self.play(FadeOut(VGroup(axes, sine, name)), run_time=0.8)


class Outro(Scene):
    """About 1.5 s, shorter than its narration: the video is held until the narration ends."""

    def construct(self) -> None:
        thanks = Text("thanks for watching", font_size=48)
        self.play(FadeIn(thanks), run_time=0.8)
        self.wait(0.7)
