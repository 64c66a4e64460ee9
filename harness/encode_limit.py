"""The encode-bound limit: how fast one ffmpeg encodes a workload's frames handed over from memory.

On a workload whose frames cost almost nothing to draw (``gradient``), no renderer can beat
ffmpeg encoding the very same frames with the same encoder settings: every frame per second a
renderer falls short of that is orchestration (processes, pipes, image files, segments, joins).
The frames are drawn into memory (untimed), then one :class:`~impls.ffmpeg.process.FrameWriter` encode
of them is timed, writing a real file in the container the cases write.

The limit is sampled after every case of its workload x preset x encoder (``rounds`` samples
after the first, one after each other), never while a case is being timed, and is the median of
those samples: on a shared machine load comes in bursts, and samples spread over the same
stretch of time as the cases meet the same bursts, which samples taken in a row need not.

The limit is one ffmpeg. For a renderer that feeds one ffmpeg (``pipe``, ``disk``, the
baseline) a fraction above 100 % is noise; one that runs several encoders at once (``chunk``)
can pass it where a single ffmpeg leaves cores idle (a fast preset at full HD: ffmpeg's own
thread reading and colour-converting the frames is the bottleneck, at ~0.9 of one core).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.matrix import Case
from harness.references import output_suffix
from harness.results import slug
from impls.ffmpeg.command import RawFormat
from impls.ffmpeg.process import FrameWriter
from impls.model.protocol import ClipSource, EncoderSpec
from impls.model.timeline import Timeline, frame_rgb, frame_rgba


@dataclass(frozen=True)
class EncodeLimit:
    """One measurement: ``walls`` holds the seconds of each timed encode of ``frames`` frames."""

    frames: int
    walls: tuple[float, ...]

    @property
    def wall(self) -> float:
        return float(statistics.median(self.walls))

    @property
    def fps(self) -> float:
        """Frames per second of the median encode (the same statistic as a case's fps)."""
        return self.frames / self.wall if self.wall > 0 else 0.0


def draw_frames(source: ClipSource, encoder: EncoderSpec) -> tuple[list[np.ndarray[Any, np.dtype[np.uint8]]], RawFormat]:
    """Every frame of ``source`` as the renderers draw it (RGBA when ``encoder`` keeps alpha)."""
    clip = source.load()
    try:
        timeline = Timeline.for_clip(clip)
        draw = frame_rgba if encoder.has_alpha else frame_rgb
        frames = [draw(clip, timeline.time(i)) for i in range(timeline.frames)]
    finally:
        clip.close()
    height, width = frames[0].shape[:2]
    encoder.check_size(width, height)
    pix_fmt = "rgba" if encoder.has_alpha else "rgb24"
    return frames, RawFormat(width, height, timeline.rate, pix_fmt)


def measure(source: ClipSource, encoder: EncoderSpec, output: Path, rounds: int = 1) -> EncodeLimit:
    """Draw ``source``'s frames once, then time ``rounds`` encodes of them into ``output``.

    Each timed encode is one ffmpeg started, fed every frame from memory and finished (its
    start-up and the container's trailer included, as a renderer pays them). ``output`` is
    removed afterwards, whatever happens.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    frames, fmt = draw_frames(source, encoder)
    walls: list[float] = []
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            with FrameWriter(output, fmt, encoder) as writer:
                for frame in frames:
                    writer.write(frame)
            walls.append(time.perf_counter() - started)
    finally:
        with contextlib.suppress(OSError):
            Path(output).unlink(missing_ok=True)
    return EncodeLimit(frames=len(frames), walls=tuple(walls))


class EncodeLimits:
    """The session's encode-bound limits: one sample after each case of a group (see the module doc).

    ``wanted(case)`` says whether the case's workload gets a limit (cheap-frame workloads only:
    on an expensive one the limit says nothing and drawing every frame into memory costs
    minutes and gigabytes).
    """

    def __init__(self, workdir: Callable[[], Path], rounds: int, wanted: Callable[[Case], bool]) -> None:
        self._workdir = workdir
        self.rounds = rounds  # samples taken after the first case of a group (1 after the others)
        self._wanted = wanted
        self._found: dict[tuple[str, str, str], EncodeLimit] = {}
        self._failed: set[tuple[str, str, str]] = set()
        self.errors: list[str] = []

    def for_case(self, case: Case) -> EncodeLimit | None:
        """Take this case's sample(s); return the group's limit so far (None: no limit here)."""
        if not isinstance(case.source, ClipSource) or not self._wanted(case) or case.group in self._failed:
            return None
        output = self._workdir() / f"{slug('encode-limit', *case.group)}{output_suffix(case.encoder)}"
        before = self._found.get(case.group)
        try:
            sample = measure(case.source, case.encoder, output, self.rounds if before is None else 1)
        except Exception as exc:  # a failed measurement leaves the cases' own results intact
            self._failed.add(case.group)
            self._found.pop(case.group, None)
            self.errors.append(
                f"encode-bound limit of {' '.join(case.group)} not measured: {type(exc).__name__}: {exc}"
            )
            return None
        walls = sample.walls if before is None else before.walls + sample.walls
        self._found[case.group] = EncodeLimit(sample.frames, walls)
        return self._found[case.group]

    def limit(self, group: tuple[str, str, str]) -> EncodeLimit | None:
        """The limit of ``group`` from every sample taken so far."""
        return self._found.get(group)
