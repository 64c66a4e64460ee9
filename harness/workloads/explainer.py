"""The Manim explainer: five scenes of different lengths, each with generated narration.

The scenes live in ``explainer_scenes.py`` beside this module (a manim script, shipped with the
package). The narration is synthetic speech-like audio (syllables of voiced tones with formant
colour, attack and decay, grouped into words and phrases with pauses), generated with numpy
and written as WAV files; nothing is downloaded. The outro's narration is longer than the
outro scene, so the renderers must hold its last frame.
"""

from __future__ import annotations

import wave
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from impls.model.protocol import ManimSource

SCENES: tuple[str, ...] = ("Intro", "Shapes", "Tracker", "Graph", "Outro")

#: Narration length per scene (seconds). The outro scene lasts ~1.5 s: its narration is longer.
NARRATION_SECONDS: Mapping[str, float] = {
    "Intro": 2.6,
    "Shapes": 5.2,
    "Tracker": 6.0,
    "Graph": 8.0,
    "Outro": 3.2,
}

NARRATION_RATE = 24000


def script_path() -> Path:
    """The explainer's manim script."""
    return Path(__file__).with_name("explainer_scenes.py")


def _syllable(rng: np.random.Generator, seconds: float, rate: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    n = max(1, int(seconds * rate))
    t = np.arange(n) / rate
    # Pitch glides a little within a syllable, like intonation.
    f0 = rng.uniform(105, 185) * (1 + rng.uniform(-0.12, 0.12) * t / max(seconds, 1e-3))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    # A vowel: harmonics weighted by two formant peaks.
    formants = (rng.uniform(300, 850), rng.uniform(900, 2300))
    voice = np.zeros(n)
    for harmonic in range(1, 16):
        frequency = harmonic * float(np.mean(f0))
        weight = sum(np.exp(-(((frequency - f) / 180.0) ** 2)) for f in formants) + 0.05 / harmonic
        voice += weight * np.sin(harmonic * phase)
    voice /= max(1e-9, float(np.max(np.abs(voice))))
    attack = min(n, int(0.015 * rate))
    envelope = np.exp(-3.0 * t / max(seconds, 1e-3))
    envelope[:attack] *= np.linspace(0, 1, attack)
    # A consonant: a short burst of noise at the onset.
    burst = min(n, int(rng.uniform(0.01, 0.04) * rate))
    noise = np.zeros(n)
    noise[:burst] = rng.normal(0, 0.3, burst) * np.linspace(1, 0, burst)
    result: np.ndarray[Any, np.dtype[np.float64]] = 0.6 * voice * envelope + noise
    return result


def narration(seconds: float, seed: int, rate: int = NARRATION_RATE) -> np.ndarray[Any, np.dtype[np.int16]]:
    """Speech-like mono audio of exactly ``round(seconds * rate)`` samples (int16)."""
    rng = np.random.default_rng(seed)
    total = round(seconds * rate)
    out = np.zeros(total)
    position = int(0.1 * rate)
    while position < total - int(0.25 * rate):
        for _ in range(int(rng.integers(2, 5))):  # syllables of a word
            if position >= total:
                break
            piece = _syllable(rng, float(rng.uniform(0.09, 0.22)), rate)
            end = min(total, position + piece.size)
            out[position:end] += piece[: end - position]
            position = end + int(rng.uniform(0.02, 0.05) * rate)
        position += int(rng.uniform(0.08, 0.2) * rate)  # between words
        if rng.random() < 0.2:
            position += int(0.3 * rate)  # end of a phrase
    peak = max(1e-9, float(np.max(np.abs(out))))
    return (out / peak * 0.5 * 32767).astype(np.int16)


def write_wav(path: Path, samples: np.ndarray[Any, np.dtype[np.int16]], rate: int = NARRATION_RATE) -> Path:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.astype("<i2").tobytes())
    return path


def write_narration(
    directory: Path,
    seed: int = 0,
    seconds: Mapping[str, float] | None = None,
    scenes: Sequence[str] = SCENES,
) -> dict[str, Path]:
    """Write one narration WAV per scene into ``directory``; return scene -> path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lengths = dict(NARRATION_SECONDS if seconds is None else seconds)
    paths: dict[str, Path] = {}
    for index, scene in enumerate(scenes):
        if scene in lengths:
            samples = narration(lengths[scene], seed * 1000 + index)
            paths[scene] = write_wav(directory / f"narration-{scene}.wav", samples)
    return paths


def source(
    directory: Path,
    quality: str = "h",
    fps: Fraction | None = None,
    padding: float = 0.0,
    seed: int = 0,
    scenes: Sequence[str] = SCENES,
    audio: bool = True,
    *,
    script: Path | None = None,
    seconds: Mapping[str, float] | None = None,
) -> ManimSource:
    """The explainer as a :class:`ManimSource`; narration files are written into ``directory``.

    ``script`` and ``seconds`` (narration per scene) make another explainer of the same kind.
    """
    narrations = write_narration(directory, seed=seed, seconds=seconds, scenes=scenes) if audio else {}
    return ManimSource(
        script=script or script_path(),
        scenes=tuple(scenes),
        audio=narrations,
        quality=quality,
        fps=fps,
        padding=padding,
    )
