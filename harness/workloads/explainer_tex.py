"""The LaTeX explainer: five scenes with ``Tex``/``MathTex``, each with generated narration.

The scenes live in ``explainer_tex_scenes.py`` beside this module; the narration is the
explainer's synthetic speech (:func:`harness.workloads.explainer.narration`), one WAV per scene.
As in the explainer, the outro's narration is longer than the outro scene. Rendering needs LaTeX
(``latex`` and ``dvisvgm``, and the packages manim's default template loads); without it every
Manim renderer refuses the job before starting manim, naming what to install.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

from harness.workloads import explainer
from impls.model.protocol import ManimSource

SCENES: tuple[str, ...] = ("TexIntro", "Algebra", "Integral", "Sum", "Outro")

#: Narration length per scene (seconds). The outro scene lasts ~1.5 s: its narration is longer.
NARRATION_SECONDS: Mapping[str, float] = {
    "TexIntro": 2.8,
    "Algebra": 5.5,
    "Integral": 8.5,
    "Sum": 6.5,
    "Outro": 3.0,
}


def script_path() -> Path:
    """The LaTeX explainer's manim script."""
    return Path(__file__).with_name("explainer_tex_scenes.py")


def source(
    directory: Path,
    quality: str = "h",
    fps: Fraction | None = None,
    padding: float = 0.0,
    seed: int = 1,
    scenes: Sequence[str] = SCENES,
    audio: bool = True,
) -> ManimSource:
    """The LaTeX explainer as a :class:`ManimSource`; narration files are written into ``directory``."""
    return explainer.source(
        directory, quality, fps, padding, seed, scenes, audio, script=script_path(), seconds=NARRATION_SECONDS
    )
