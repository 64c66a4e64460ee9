"""The benchmark's workloads at their two sizes: ``(workload, preset) -> Source``.

``smoke`` is tiny (seconds, for CI and tests); ``full`` is what the published numbers use:
the 1920x1080 30 fps 10 s slideshow of the seed, and the Manim explainer at ``-qh``.
``gradient`` is the cheap-frame workload: its cases are compared with the encode-bound limit.
``slideshow_object`` is the slideshow built in the benchmark's own process and handed to the
renderers as the clip itself (a :class:`~impls.model.protocol.ClipObject`, pickled once per
render) instead of as its factory: the two compare a clip object's render with a factory's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.workloads import FRAME_INDEX, GRADIENT, SLIDESHOW
from impls.model.protocol import ClipObject, ClipSource, Source

#: How each workload's outputs are checked against the reference (harness.validate modes).
VALIDATION_MODE = {
    "slideshow": "auto", "slideshow_object": "auto", "frame_index": "index", "explainer": "auto",
    "gradient": "auto",
}  # fmt: skip

#: Workloads whose frames cost almost nothing to draw: the harness also times ffmpeg encoding
#: their frames from memory (the encode-bound limit) and reports each case against it.
ENCODE_LIMIT = frozenset({"gradient"})

_CLIPS: dict[tuple[str, str], ClipSource] = {
    ("slideshow", "smoke"): ClipSource(
        SLIDESHOW, {"width": 320, "height": 180, "fps": 30, "duration": 1.0, "images": 2, "crossfade": 0.25}
    ),
    ("slideshow", "full"): ClipSource(SLIDESHOW, {"width": 1920, "height": 1080, "fps": 30, "duration": 10.0}),
    ("frame_index", "smoke"): ClipSource(FRAME_INDEX, {"width": 160, "height": 120, "fps": 30, "duration": 1.0}),
    ("frame_index", "full"): ClipSource(FRAME_INDEX, {"width": 1920, "height": 1080, "fps": 30, "duration": 10.0}),
    ("gradient", "smoke"): ClipSource(GRADIENT, {"width": 320, "height": 180, "fps": 30, "duration": 1.0}),
    ("gradient", "full"): ClipSource(GRADIENT, {"width": 1920, "height": 1080, "fps": 30, "duration": 10.0}),
}  # fmt: skip

_MANIM_QUALITY = {"smoke": "l", "full": "h"}


@dataclass(frozen=True)
class Workload:
    """A named benchmark input at one preset; ``source`` is None when it cannot be built here."""

    name: str
    preset: str
    source: Source | None
    mode: str = "auto"
    unavailable: str | None = None  # why ``source`` is None
    encode_limit: bool = False  # measure the encode-bound limit for its cases (cheap frames)


def _explainer(preset: str, inputs: Path) -> Source:
    from harness.workloads import explainer

    if preset == "smoke":
        # Two short scenes; the outro's narration outlasts it, so held frames are exercised.
        return explainer.source(inputs / "explainer-smoke", quality="l", scenes=("Intro", "Outro"))
    return explainer.source(inputs / "explainer-full", quality=_MANIM_QUALITY[preset])


NAMES = ("slideshow", "frame_index", "explainer", "gradient", "slideshow_object")

#: Workloads that are another workload's clip, built here and rendered as a clip object.
_AS_OBJECT = {"slideshow_object": "slideshow"}


def workload(name: str, preset: str, inputs: Callable[[], Path]) -> Workload:
    """The workload ``name`` at ``preset``; an unknown name raises KeyError listing the known ones.

    ``inputs()`` is a directory for generated input files (the explainer's narration), asked
    for only when a workload needs one.
    """
    if name not in NAMES:
        raise KeyError(f"unknown workload {name!r}; known: {', '.join(NAMES)}")
    mode = VALIDATION_MODE.get(name, "auto")
    if name in _AS_OBJECT and (_AS_OBJECT[name], preset) in _CLIPS:
        clip = _CLIPS[_AS_OBJECT[name], preset].load()  # as a user's script builds it
        return Workload(name, preset, ClipObject(clip), mode)
    if (name, preset) in _CLIPS:
        return Workload(name, preset, _CLIPS[name, preset], mode, encode_limit=name in ENCODE_LIMIT)
    try:
        return Workload(name, preset, _explainer(preset, inputs()), mode)
    except Exception as exc:  # a broken optional workload is reported, never fatal to collection
        return Workload(name, preset, None, mode, unavailable=f"workload {name!r} cannot be built: {exc}")
