"""The LaTeX explainer's scenes: ``Tex`` and ``MathTex`` in every scene, as in a maths video.

Rendered by the ``manim`` CLI as a script, like ``explainer_scenes.py``; needs ``latex`` and
``dvisvgm`` (and the packages of manim's default template). Scene lengths differ so that
scheduling them on workers is not trivially balanced. Updaters depend on trackers, not on
accumulated ``dt``, so rendering a range of animations (``-n``) gives the scene's own frames.
"""

from __future__ import annotations

from manim import (
    BLUE,
    DOWN,
    GREEN,
    LEFT,
    ORANGE,
    RIGHT,
    UP,
    YELLOW,
    Axes,
    Brace,
    Create,
    DecimalNumber,
    FadeIn,
    FadeOut,
    MathTex,
    Scene,
    Tex,
    Text,
    TransformMatchingTex,
    ValueTracker,
    VGroup,
    Write,
    always_redraw,
)


class TexIntro(Scene):
    """About 3 s: a title set in LaTeX, a formula under it, both faded out."""

    def construct(self) -> None:
        title = Tex(r"Parallel rendering with \LaTeX", font_size=64)
        formula = MathTex(r"e^{i\pi} + 1 = 0", color=BLUE).next_to(title, DOWN, buff=0.6)
        self.play(Write(title), run_time=1.2)
        self.play(FadeIn(formula, shift=UP * 0.3), run_time=0.8)
        self.wait(0.5)
        self.play(FadeOut(title), FadeOut(formula), run_time=0.5)


class Algebra(Scene):
    """About 6 s: a square of a sum expanded step by step, matching terms carried across."""

    def construct(self) -> None:
        steps = [
            MathTex("(a+b)^2"),
            MathTex("(a+b)", "(a+b)"),
            MathTex("a^2", "+", "ab", "+", "ba", "+", "b^2"),
            MathTex("a^2", "+", "2ab", "+", "b^2"),
        ]
        for step in steps:
            step.scale(1.4)
        self.play(Write(steps[0]), run_time=1.0)
        for before, after in zip(steps, steps[1:]):
            self.play(TransformMatchingTex(before, after), run_time=1.0)
            self.wait(0.3)
        steps[-1].set_color_by_tex("2ab", YELLOW)
        note = Tex(r"the cross terms add up: $ab + ba = 2ab$", font_size=36).next_to(steps[-1], DOWN, buff=0.7)
        self.play(FadeIn(note), run_time=0.6)
        self.wait(0.4)
        self.play(FadeOut(VGroup(steps[-1], note)), run_time=0.5)


class Integral(Scene):
    """About 9 s, the longest: the area under a parabola, its integral and a running value."""

    def construct(self) -> None:
        axes = Axes(x_range=[0, 1.5, 0.5], y_range=[0, 2.25, 0.5], x_length=7, y_length=4.5).to_edge(LEFT)
        curve = axes.plot(lambda x: x**2, x_range=[0, 1.5], color=BLUE)
        label = MathTex("y = x^2", color=BLUE).next_to(curve.get_end(), UP + LEFT, buff=0.2)
        bound = ValueTracker(0.05)
        area = always_redraw(
            lambda: axes.get_area(curve, x_range=(0, bound.get_value()), color=GREEN, opacity=0.5)
        )
        formula = MathTex(r"\int_0^{b} x^2\,dx = \frac{b^3}{3}").to_corner(UP + RIGHT)
        value = DecimalNumber(0.0, num_decimal_places=3, color=YELLOW).next_to(formula, DOWN, buff=0.5)
        value.add_updater(lambda number: number.set_value(bound.get_value() ** 3 / 3))
        self.play(Create(axes), run_time=1.0)
        self.play(Create(curve), Write(label), run_time=1.2)
        self.add(area)
        self.play(Write(formula), FadeIn(value), run_time=1.2)
        self.play(bound.animate.set_value(1.0), run_time=2.0)
        result = MathTex(r"\int_0^1 x^2\,dx = \frac{1}{3}", color=YELLOW).next_to(value, DOWN, buff=0.5)
        self.play(Write(result), run_time=1.0)
        self.play(bound.animate.set_value(1.5), run_time=1.5)
        self.remove(area)
        self.play(FadeOut(VGroup(axes, curve, label, formula, value, result)), run_time=0.8)


class Sum(Scene):
    """About 7 s: Gauss's sum with a brace and its label, then the case n = 100."""

    def construct(self) -> None:
        terms = MathTex("1", "+", "2", "+", "3", "+", r"\cdots", "+", "n").scale(1.3)
        brace = Brace(terms, DOWN)
        label = brace.get_tex(r"\frac{n(n+1)}{2}")
        self.play(Write(terms), run_time=1.2)
        self.play(Create(brace), Write(label), run_time=1.2)
        self.wait(0.5)
        hundred = MathTex(r"\sum_{k=1}^{100} k", "=", r"\frac{100 \cdot 101}{2}", "=", "5050").scale(1.2)
        self.play(FadeOut(VGroup(terms, brace, label)), FadeIn(hundred, shift=UP * 0.3), run_time=1.0)
        self.play(hundred[-1].animate.set_color(ORANGE).scale(1.3), run_time=0.8)
        story = Tex(r"Gauss, aged nine, as the story goes", font_size=36).next_to(hundred, DOWN, buff=0.8)
        self.play(Write(story), run_time=1.2)
        self.wait(0.4)
        self.play(FadeOut(VGroup(hundred, story)), run_time=0.6)


class Outro(Scene):
    """About 1.5 s, shorter than its narration: the video is held until the narration ends."""

    def construct(self) -> None:
        thanks = Text("thanks for watching", font_size=44)
        sign = MathTex(r"\blacksquare", color=GREEN).next_to(thanks, RIGHT)
        self.play(FadeIn(VGroup(thanks, sign)), run_time=0.8)
        self.wait(0.7)
