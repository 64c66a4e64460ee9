"""Fake renderers for the plugin's own tests: real tiny files, no MoviePy, a few ms of ffmpeg.

Every fake writes ffmpeg's ``testsrc2`` pattern with the frame count, size and rate the tiny
``frame_index`` source asks for, so a fake's output passes real validation against another
fake's (the same frames through the same encoder). ``drop`` writes fewer frames: an invalid
output. ``delay`` stands in for rendering work, so speedups are predictable. ``fast_path`` is
what the fake's result says of MoviePy's fast path, as the parallel MoviePy renderers do.
``broken`` raises. ``renders`` counts a fake's renders.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

from harness.workloads import FRAME_INDEX
from impls.ffmpeg.command import encoder_args
from impls.ffmpeg.files import atomic_output
from impls.ffmpeg.process import run
from impls.model.protocol import ClipSource, ManimSource, RenderJob, RenderResult, Source
from impls.registry import RENDERERS

#: 12 frames of 64x48 at 24 fps, no audio.
TINY = ClipSource(FRAME_INDEX, {"width": 64, "height": 48, "fps": 24, "duration": 0.5})


class FakeRenderer:
    def __init__(
        self, name: str, delay: float = 0.0, drop: int = 0, manim: bool = False, unavailable: str | None = None,
        fast_path: dict[str, Any] | None = None,
        broken: bool = False,
    ) -> None:  # fmt: skip
        self.name = name
        self.fast_path = fast_path
        self.delay = delay
        self.drop = drop
        self.broken = broken
        self.manim = manim
        self.unavailable = unavailable
        self.renders = 0

    def unavailable_reason(self) -> str | None:
        return self.unavailable

    def supports(self, source: Source) -> bool:
        return isinstance(source, ManimSource) if self.manim else isinstance(source, ClipSource)

    def render(self, job: RenderJob) -> RenderResult:
        assert isinstance(job.source, ClipSource)
        self.renders += 1
        if self.broken:
            raise RuntimeError(f"{self.name} breaks on purpose")
        kwargs = job.source.kwargs
        rate = Fraction(kwargs["fps"])
        frames = int(kwargs["duration"] * kwargs["fps"]) - self.drop
        started = time.perf_counter()
        time.sleep(self.delay)
        with atomic_output(job.output) as tmp:
            run(
                ["-loglevel", "error", "-y", "-f", "lavfi",
                 "-i", f"testsrc2=s={kwargs['width']}x{kwargs['height']}:r={rate}",
                 "-frames:v", str(frames), *encoder_args(job.encoder), str(tmp)],
                f"fake renderer {self.name}",
            )  # fmt: skip
        wall = time.perf_counter() - started
        return RenderResult(
            output=Path(job.output), renderer=self.name, frames=frames,
            duration=float(frames / rate), fps=rate, wall=wall,
            # Says which executor the job asked for, so tests can see it arrived.
            stages={"sleep": self.delay, "encode": wall - self.delay, f"on_{job.executor}": 0.0},
            info={} if self.fast_path is None else {"fast_path": self.fast_path},
        )  # fmt: skip


FAKES = (
    FakeRenderer("fake-ref", delay=0.4),
    FakeRenderer("fake", delay=0.02),
    FakeRenderer("fake-slow", delay=0.8),
    FakeRenderer("fake-wrong", delay=0.0, drop=1),
    FakeRenderer("fake-manim", manim=True),
    FakeRenderer("fake-gpu", unavailable="needs a GPU this machine lacks"),
    FakeRenderer("fake-fast", delay=0.02, fast_path={"enabled": True, "checked_frames": [3, 8], "check_s": 0.1}),
    FakeRenderer("fake-unchecked", delay=0.15, fast_path={"enabled": False, "reason": "nothing in this clip"}),
    FakeRenderer("fake-broken", broken=True),
)


def register() -> None:
    for fake in FAKES:
        RENDERERS.register(fake)


def unregister() -> None:
    for fake in FAKES:
        RENDERERS.unregister(fake.name)


@contextmanager
def registered() -> Iterator[None]:
    register()
    try:
        yield
    finally:
        unregister()
