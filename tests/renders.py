"""Tiny baseline renders shared by the tests (sizes, the render helper, what it returns)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impls import ClipSource, EncoderSpec, RenderJob, RenderResult, get_renderer
from impls.model.timeline import Timeline

#: A slideshow small enough to render in about a second; zoom large enough that consecutive
#: frames differ even at this size.
TINY_SLIDESHOW: Mapping[str, Any] = {
    "width": 160, "height": 90, "fps": 30, "duration": 1.5,
    "images": 2, "crossfade": 0.5, "zoom": 0.3,
}  # fmt: skip
TINY_FRAME_INDEX: Mapping[str, Any] = {
    "width": 160, "height": 90, "fps": 30, "duration": 1.0, "audio": True,
}  # fmt: skip


@dataclass(frozen=True)
class BaselineRender:
    """One baseline output and what produced it."""

    job: RenderJob
    result: RenderResult
    timeline: Timeline
    size: tuple[int, int]
    audio: bool

    @property
    def path(self) -> Path:
        return self.job.output


@dataclass(frozen=True)
class BaselineRenders:
    """Tiny baseline outputs rendered once per session (read-only: copy before changing)."""

    slideshow: BaselineRender  # lossless, with audio
    frame_index: BaselineRender  # lossless, with audio
    frame_index_lossy: BaselineRender  # libx264 crf 23 ultrafast, with audio


def render_baseline(source: ClipSource, output: Path, encoder: EncoderSpec) -> BaselineRender:
    job = RenderJob(source=source, output=output, encoder=encoder)
    result = get_renderer("baseline").render(job)
    clip = source.load()
    try:
        timeline = Timeline.for_clip(clip)
        size = (int(clip.size[0]), int(clip.size[1]))
        audio = clip.audio is not None
    finally:
        clip.close()
    return BaselineRender(job=job, result=result, timeline=timeline, size=size, audio=audio)
