"""A clip factory that counts what each process's MoviePy video readers read, for the tests of
how the parallel renderers hand out frames of a clip that reads a video file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: Where this process writes its counts: the folder of the clip it built last.
_counts: list[str] = []


def _count(what: str, frames: int) -> None:
    with open(Path(_counts[-1]) / f"{os.getpid()}.txt", "a") as out:
        out.write(f"{what} {frames}\n")


def _install(counts: str) -> None:
    """Wrap the reader's methods (as they are now: readers.py's own wrappers included) once per
    process: every frame ffmpeg pipes over, read or skipped, and every seek is written down."""
    installed = bool(_counts)
    _counts.append(counts)
    if installed:
        return
    from moviepy.video.io.ffmpeg_reader import FFMPEG_VideoReader

    read_frame, skip_frames, initialize = (
        FFMPEG_VideoReader.read_frame, FFMPEG_VideoReader.skip_frames, FFMPEG_VideoReader.initialize
    )  # fmt: skip

    def counted_read(self: Any) -> Any:
        _count("piped", 1)
        return read_frame(self)

    def counted_skip(self: Any, n: int = 1) -> None:
        _count("piped", n)
        skip_frames(self, n)

    def counted_initialize(self: Any, start_time: float = 0) -> None:
        _count("opened", 1)
        initialize(self, start_time)

    FFMPEG_VideoReader.read_frame = counted_read
    FFMPEG_VideoReader.skip_frames = counted_skip
    FFMPEG_VideoReader.initialize = counted_initialize


def counted_edit(counts: str, **edit: Any) -> Any:
    """The ``edit`` workload's clip, with this process's video reads counted in ``counts``."""
    from impls.moviepy.readers import guarded

    with guarded():  # readers.py wraps the reader first, as in a worker
        pass
    _install(counts)
    from harness.workloads.edit import make

    return make(**edit)


def totals(counts: Path, skip_pid: int) -> dict[str, int]:
    """Frames piped and readers opened (initial opens and seeks), summed over the processes
    other than ``skip_pid`` (the caller, which builds the clip for its size and audio)."""
    total = {"piped": 0, "opened": 0, "processes": 0}
    for path in counts.glob("*.txt"):
        if path.stem == str(skip_pid):
            continue
        total["processes"] += 1
        for line in path.read_text().splitlines():
            what, frames = line.split()
            total[what] += int(frames)
    return total
