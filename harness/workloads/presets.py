"""The benchmark's presets: which workloads run, at what size, with which worker counts.

- ``smoke``: every default workload, tiny (seconds; for CI and tests), workers 1, 2 and cores.
- ``full`` (the default, what ``make bench`` runs): the slideshow (1920x1080 30 fps 10 s) and the
  Manim explainer (``-qh``) of the published numbers, and the file edit, the captions (both
  1920x1080 30 fps 4 s) and the LaTeX explainer (``-qm``), each renderer with as many workers as
  the machine has cores. Its run time on 2 cores is in the README.
- ``exhaustive``: every workload (the cheap-frame ones too) at its largest size (the edit and
  the captions 1920x1080 30 fps 10 s, the LaTeX explainer at ``-qh``), workers 1, 2 and cores;
  several times as long as ``full``.

``gradient`` is the cheap-frame workload: its cases are compared with the encode-bound limit.
``slideshow_object`` is the slideshow built in the benchmark's own process and handed to the
renderers as the clip itself (a :class:`~impls.model.protocol.ClipObject`, pickled once per
render) instead of as its factory: the two compare a clip object's render with a factory's.
The edit and captions read a source video and a music file that ffmpeg makes the first time a
preset asks for them (:mod:`harness.workloads.media`), before any case is timed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.workloads import CAPTIONS, EDIT, FRAME_INDEX, GRADIENT, SLIDESHOW
from impls.model.protocol import ClipObject, ClipSource, Source

NAMES = ("slideshow", "frame_index", "explainer", "gradient", "edit", "captions", "explainer-tex")

#: Workloads that are another workload's clip, built here and rendered as a clip object (not
#: in any preset's default: name them with --workloads).
AS_OBJECT = {"slideshow_object": "slideshow"}

#: What ``full`` and ``smoke`` run when no workloads are named.
DEFAULT_WORKLOADS = ("slideshow", "explainer", "edit", "captions", "explainer-tex")


@dataclass(frozen=True)
class Preset:
    """A named matrix: its workload sizes, and the workloads and worker counts it runs by default."""

    name: str
    workloads: tuple[str, ...]
    workers: str  # as --workers takes it
    rounds: int  # timed rounds per case when --rounds is 'auto'


PRESETS: Mapping[str, Preset] = {
    "smoke": Preset("smoke", DEFAULT_WORKLOADS, "1,2,cores", 3),
    "full": Preset("full", DEFAULT_WORKLOADS, "cores", 1),
    "exhaustive": Preset("exhaustive", NAMES, "1,2,cores", 1),
}

DEFAULT_PRESET = "full"

#: How each workload's outputs are checked against the reference (harness.validate modes).
VALIDATION_MODE = {name: "auto" for name in NAMES} | {"frame_index": "index"}

#: Workloads whose frames cost almost nothing to draw: the harness also times ffmpeg encoding
#: their frames from memory (the encode-bound limit) and reports each case against it.
ENCODE_LIMIT = frozenset({"gradient"})

_HD: dict[str, Any] = {"width": 1920, "height": 1080, "fps": 30}
_TINY: dict[str, Any] = {"width": 320, "height": 180, "fps": 30}

_CLIPS: dict[tuple[str, str], ClipSource] = {
    ("slideshow", "smoke"): ClipSource(
        SLIDESHOW, {**_TINY, "duration": 1.0, "images": 2, "crossfade": 0.25}
    ),
    ("slideshow", "full"): ClipSource(SLIDESHOW, {**_HD, "duration": 10.0}),
    ("slideshow", "exhaustive"): ClipSource(SLIDESHOW, {**_HD, "duration": 10.0}),
    ("frame_index", "smoke"): ClipSource(FRAME_INDEX, {"width": 160, "height": 120, "fps": 30, "duration": 1.0}),
    ("frame_index", "full"): ClipSource(FRAME_INDEX, {**_HD, "duration": 10.0}),
    ("frame_index", "exhaustive"): ClipSource(FRAME_INDEX, {**_HD, "duration": 10.0}),
    ("gradient", "smoke"): ClipSource(GRADIENT, {**_TINY, "duration": 1.0}),
    ("gradient", "full"): ClipSource(GRADIENT, {**_HD, "duration": 10.0}),
    ("gradient", "exhaustive"): ClipSource(GRADIENT, {**_HD, "duration": 10.0}),
    # The edit and the captions read one source video per size: 24 s at full HD, 4 s tiny.
    ("edit", "smoke"): ClipSource(EDIT, {**_TINY, "duration": 1.5, "source_seconds": 4.0}),
    ("edit", "full"): ClipSource(EDIT, {**_HD, "duration": 4.0, "source_seconds": 24.0}),
    ("edit", "exhaustive"): ClipSource(EDIT, {**_HD, "duration": 10.0, "source_seconds": 24.0}),
    ("captions", "smoke"): ClipSource(CAPTIONS, {**_TINY, "duration": 1.5, "source_seconds": 4.0}),
    ("captions", "full"): ClipSource(CAPTIONS, {**_HD, "duration": 4.0, "source_seconds": 24.0}),
    ("captions", "exhaustive"): ClipSource(CAPTIONS, {**_HD, "duration": 10.0, "source_seconds": 24.0}),
}  # fmt: skip

#: Manim quality per workload and preset, and the scenes of the smoke size.
_MANIM_QUALITY = {
    ("explainer", "smoke"): "l", ("explainer", "full"): "h", ("explainer", "exhaustive"): "h",
    ("explainer-tex", "smoke"): "l", ("explainer-tex", "full"): "m", ("explainer-tex", "exhaustive"): "h",
}  # fmt: skip
_SMOKE_SCENES = {"explainer": ("Intro", "Outro"), "explainer-tex": ("TexIntro", "Outro")}

#: Programs the LaTeX explainer needs, and the Debian packages that provide them with every
#: package manim's default template loads (standalone.cls is in texlive-latex-extra).
LATEX_TOOLS = ("latex", "dvisvgm")
LATEX_PACKAGES = "texlive-latex-base texlive-latex-extra dvisvgm"


@dataclass(frozen=True)
class Workload:
    """A named benchmark input at one preset; ``source`` is None when it cannot be built here."""

    name: str
    preset: str
    source: Source | None
    mode: str = "auto"
    unavailable: str | None = None  # why ``source`` is None
    encode_limit: bool = False  # measure the encode-bound limit for its cases (cheap frames)


def _prepare_media(source: ClipSource) -> None:
    """Make the source video and music a file workload reads, so no timed render makes them."""
    from harness.workloads import media

    kwargs = source.kwargs
    if kwargs.get("source") is None:
        media.source_video(kwargs["width"], kwargs["height"], kwargs["fps"], kwargs["source_seconds"])
    if source.factory == EDIT and kwargs.get("music", True) and kwargs.get("audio", True):
        media.music(kwargs["duration"])


def _manim(name: str, preset: str, inputs: Path) -> Source:
    from harness.workloads import explainer, explainer_tex

    quality = _MANIM_QUALITY[name, preset]
    if name == "explainer":
        folder = inputs / f"explainer-{preset}"
        scenes = _SMOKE_SCENES[name] if preset == "smoke" else explainer.SCENES
        return explainer.source(folder, quality=quality, scenes=scenes)
    missing = [tool for tool in LATEX_TOOLS if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(
            f"it needs LaTeX ({' and '.join(missing)} not found); install {LATEX_PACKAGES} "
            "(`make setup` does, as root)"
        )
    folder = inputs / f"explainer-tex-{preset}"
    scenes = _SMOKE_SCENES[name] if preset == "smoke" else explainer_tex.SCENES
    return explainer_tex.source(folder, quality=quality, scenes=scenes)


def workload(name: str, preset: str, inputs: Callable[[], Path]) -> Workload:
    """The workload ``name`` at ``preset``; an unknown name raises KeyError listing the known ones.

    ``inputs()`` is a directory for generated input files (the explainers' narration), asked
    for only when a workload needs one. Media in the cache folder are made here, the first time.
    """
    if name not in NAMES and name not in AS_OBJECT:
        known = (*NAMES, *AS_OBJECT)
        raise KeyError(f"unknown workload {name!r}; known: {', '.join(known)}")
    if preset not in PRESETS:
        raise KeyError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    mode = VALIDATION_MODE.get(name, "auto")
    if name in AS_OBJECT and (AS_OBJECT[name], preset) in _CLIPS:
        clip = _CLIPS[AS_OBJECT[name], preset].load()  # as a user's script builds it
        return Workload(name, preset, ClipObject(clip), mode)
    try:
        if (name, preset) in _CLIPS:
            clip = _CLIPS[name, preset]
            if clip.factory in (EDIT, CAPTIONS):
                _prepare_media(clip)
            return Workload(name, preset, clip, mode, encode_limit=name in ENCODE_LIMIT)
        return Workload(name, preset, _manim(name, preset, inputs()), mode)
    except Exception as exc:  # a broken optional workload is reported, never fatal to collection
        return Workload(name, preset, None, mode, unavailable=f"workload {name!r} cannot be built: {exc}")
