"""``disk``: workers write frames as image files to a scratch directory; one ffmpeg encodes them.

Options (``job.options``):

- ``image_format``: ``"ppm"`` (default; ``pam`` is used instead when the encoder keeps alpha)
  is uncompressed: a 20-byte header and the pixels, so writing costs no CPU beyond the copy.
  Measured per 1920x1080 slideshow frame: PPM 6 ms to write, PNG at default compression 380 ms
  (longer than rendering the frame, 210 ms: that is why PNG made this path slower than the
  baseline), PNG level 0 140 ms, JPEG q95 13 ms. ``"png"`` (lossless, compressed) and
  ``"jpeg"`` (lossy: the pixels differ from the baseline's; ``lossy_transport`` in the result)
  are options.
- ``jpeg_quality`` (default 95).
- ``batch``: frames per task (default: enough tasks for ~8 per worker, at most 32 frames each).
- ``shared_dir``: a directory every worker and this process see at the same path; the frame
  files go there (in a private subdirectory, removed after the render) instead of the scratch
  directory. Required on Dask: the frames are files that this process's ffmpeg reads, so
  without a shared filesystem ``disk`` cannot run there (``chunk`` can).

Disk use is bounded by the clip: frames x frame size for PPM (checked against the free space
before anything starts), removed with the scratch directory whatever happens.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from impls.ffmpeg.operations import encode_images
from impls.runtime.dispatch import Task
from impls.errors import InvalidJob
from impls.moviepy.worker import IMAGE_SUFFIX, render_images
from impls.moviepy.shell import ClipRender, choice_option, int_option, render_clip, supports_clip
from impls.model.protocol import RenderJob, RenderResult, Source
from impls.model.timeline import Timeline

IMAGE_FORMATS = ("ppm", "png", "jpeg")
_NEEDS_SHARED_DIR = (
    "writes frame files that ffmpeg reads in this process: on Dask it needs "
    "options['shared_dir'], a directory every worker sees at the same path (or use chunk, "
    "which needs no shared filesystem)"
)
_MAX_BATCH = 32
_TASKS_PER_WORKER = 8


def _options(job: RenderJob, workers: int) -> dict[str, Any]:
    image_format = choice_option(job.options, "image_format", "ppm", IMAGE_FORMATS)
    if image_format == "ppm" and job.encoder.has_alpha:
        image_format = "pam"
    if image_format == "jpeg" and job.encoder.has_alpha:
        raise InvalidJob(
            f"image_format 'jpeg' has no alpha, which pix_fmt {job.encoder.pix_fmt!r} keeps; "
            "use 'ppm' or 'png'"
        )
    shared = job.options.get("shared_dir")
    if shared is None and job.executor == "dask":
        raise InvalidJob(f"disk {_NEEDS_SHARED_DIR}")
    if shared is not None and not Path(shared).is_dir():
        raise InvalidJob(
            f"option 'shared_dir' must be an existing directory that every worker sees, "
            f"got {shared!r}"
        )
    return {
        "image_format": image_format,
        "jpeg_quality": int_option(job.options, "jpeg_quality", 95, high=100),
        "batch": int_option(job.options, "batch", 0, low=0),
        "shared_dir": None if shared is None else str(shared),
    }


def _check_space(render: ClipRender) -> None:
    """Refuse early when the frames cannot fit in the scratch directory's filesystem."""
    if render.info["image_format"] not in {"ppm", "pam"}:
        return  # compressed: size unknown in advance
    needed = render.timeline.frames * (render.source.frame_bytes + 64)
    where = render.info["shared_dir"] or tempfile.gettempdir()
    free = shutil.disk_usage(render.info["shared_dir"] or render.scratch).free
    if needed > free:
        raise InvalidJob(
            f"disk needs {needed / 1e9:.1f} GB for {render.timeline.frames} uncompressed frames "
            f"in {where}, which has {free / 1e9:.1f} GB free: point TMPDIR at a "
            "larger filesystem, or use the pipe or chunk renderer (no frame files)"
        )


def _batches(timeline: Timeline, workers: int, batch: int) -> list[range]:
    if batch <= 0:
        batch = max(1, min(_MAX_BATCH, math.ceil(timeline.frames / (workers * _TASKS_PER_WORKER))))
    return [range(s, min(s + batch, timeline.frames)) for s in range(0, timeline.frames, batch)]


def _pipeline(render: ClipRender, video: Path) -> None:
    image_format: str = render.info["image_format"]
    if image_format == "jpeg":
        render.info["lossy_transport"] = True
    shared = render.info["shared_dir"]
    if shared is None:
        frames_dir = render.scratch / "frames"
        frames_dir.mkdir()
    else:
        frames_dir = Path(tempfile.mkdtemp(prefix="renderbench-frames-", dir=shared))
    try:
        _encode_frames(render, video, frames_dir, image_format)
    finally:
        shutil.rmtree(frames_dir, ignore_errors=True)  # before the mux: disk back at once


def _encode_frames(render: ClipRender, video: Path, frames_dir: Path, image_format: str) -> None:
    batches = _batches(render.timeline, render.workers, render.info["batch"])
    render.info["tasks"] = len(batches)

    def tasks() -> Iterator[Task[int]]:
        for part in batches:
            args = (
                render.source, part, str(frames_dir), image_format, render.info["jpeg_quality"]
            )  # fmt: skip
            yield Task(f"frames {part.start}..{part.stop - 1}", render_images, args, len(part))

    with render.stage("frames"), render.dispatcher(2 * render.workers) as dispatch:
        for _ in dispatch.run(tasks()):
            pass
    with render.stage("encode"):
        pattern = frames_dir / f"%06d.{IMAGE_SUFFIX[image_format]}"
        encode_images(
            pattern, render.timeline.frames, render.timeline.rate, render.job.encoder, video
        )


class DiskRenderer:
    """Frames to image files in parallel, then one ffmpeg encode of the sequence."""

    name = "disk"

    def supports(self, source: Source) -> bool:
        return supports_clip(source)

    def executor_reason(self, executor: str) -> str | None:
        """Why ``executor`` cannot run this renderer with default options (None: it can)."""
        return f"disk {_NEEDS_SHARED_DIR}" if executor == "dask" else None

    def render(self, job: RenderJob) -> RenderResult:
        return render_clip(job, self.name, _pipeline, check=_options, prepare=_check_space)
