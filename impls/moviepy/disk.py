"""``disk``: workers write frames as image files to a scratch directory; one ffmpeg encodes them.

Options (``job.options``):

- ``image_format``: ``"ppm"`` (default; ``pam`` is used instead when the encoder keeps alpha)
  is uncompressed: a 20-byte header and the pixels, so writing costs no CPU beyond the copy.
  ``"png"`` (lossless, but compressing a full-HD frame can cost more than rendering it) and
  ``"jpeg"`` (lossy: the pixels differ from the baseline's; ``lossy_transport`` in the result)
  are options; the README has the measured cost of each.
- ``jpeg_quality`` (default 95).
- ``batch``: frames per task. Default: enough tasks for ~8 per worker, at most 32 frames each;
  for a clip that reads video files, 3 runs per worker, handed out so that a worker keeping
  pace with the others renders one contiguous stretch of the clip: its MoviePy readers then
  read forward instead of decoding what the other workers render (see ``pipe``).
- ``shared_dir``: a directory every worker and this process see at the same path; the frame
  files go there (in a private subdirectory, removed after the render) instead of the scratch
  directory. Required where the executor's workers do not share this process's filesystem
  (Dask): the frames are files that this process's ffmpeg reads (``chunk`` needs no shared
  filesystem).
- ``start_method``: see :class:`~impls.moviepy.shell.ClipOptions`.

Disk use is bounded by the clip: frames x frame size for PPM (checked against the free space
before anything starts), removed with the scratch directory whatever happens.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from impls.errors import InvalidJob
from impls.ffmpeg.operations import encode_images
from impls.model.options import choice, directory, integer
from impls.model.protocol import EncoderSpec
from impls.model.timeline import Timeline
from impls.moviepy.shell import ClipOptions, ClipRender, ClipRenderer
from impls.moviepy.worker import IMAGE_SUFFIX, render_images
from impls.runtime.dispatch import Task
from impls.runtime.executor import Capabilities

IMAGE_FORMATS = ("ppm", "png", "jpeg")
_MAX_BATCH = 32
_TASKS_PER_WORKER = 8
#: Runs per worker for a clip reading video files: each run may start with a seek (decoding
#: from a keyframe), so few; more than one, so that a slow stretch is shared out.
_RUNS_PER_WORKER = 3


@dataclasses.dataclass(frozen=True)
class DiskOptions(ClipOptions):
    image_format: str = choice(IMAGE_FORMATS, "ppm")
    jpeg_quality: int = integer(95, high=100)
    batch: int | None = integer(low=0)  # 0 or None: the default
    shared_dir: str | None = directory()

    def check(self, encoder: EncoderSpec, executor: str, capabilities: Capabilities) -> None:
        if self.image_format == "jpeg" and encoder.has_alpha:
            raise InvalidJob(
                f"image_format 'jpeg' has no alpha, which pix_fmt {encoder.pix_fmt!r} keeps; "
                "use 'ppm' or 'png'"
            )
        if self.shared_dir is None and not capabilities.shares_filesystem:
            raise InvalidJob(
                "disk writes frame files that ffmpeg reads in this process: on executor "
                f"{executor!r} it needs options['shared_dir'], a directory every worker sees at "
                "the same path (or use chunk, which needs no shared filesystem)"
            )

    def check_clip(self, render: ClipRender[Any]) -> None:
        """Refuse early when the frames cannot fit in the scratch directory's filesystem."""
        if self.image_format != "ppm":
            return  # compressed: size unknown in advance
        needed = render.timeline.frames * (render.source.frame_bytes + 64)
        shared = self.shared_dir
        where = shared or tempfile.gettempdir()
        free = shutil.disk_usage(shared or render.scratch).free
        if needed > free:
            raise InvalidJob(
                f"disk needs {needed / 1e9:.1f} GB for {render.timeline.frames} uncompressed "
                f"frames in {where}, which has {free / 1e9:.1f} GB free: point TMPDIR at a "
                "larger filesystem, or use the pipe or chunk renderer (no frame files)"
            )


class Disk:
    """Frames to image files in parallel, then one ffmpeg encode of the sequence."""

    name = "disk"
    options = DiskOptions

    def write_video(self, render: ClipRender[DiskOptions], video: Path) -> None:
        options = render.options
        image_format = options.image_format
        if image_format == "ppm" and render.job.encoder.has_alpha:
            image_format = "pam"  # the netpbm format that carries alpha
        render.info["image_format"] = image_format
        if image_format == "jpeg":
            render.info.update(lossy_transport=True, jpeg_quality=options.jpeg_quality)
        if options.shared_dir is None:
            frames_dir = render.scratch / "frames"
            frames_dir.mkdir(mode=0o700)
        else:
            frames_dir = Path(tempfile.mkdtemp(prefix="renderbench-frames-", dir=options.shared_dir))
        try:
            self._encode_frames(render, video, frames_dir, image_format)
        finally:
            shutil.rmtree(frames_dir, ignore_errors=True)  # before the mux: disk back at once

    def _encode_frames(
        self, render: ClipRender[DiskOptions], video: Path, frames_dir: Path, image_format: str
    ) -> None:
        batches = _batches(
            render.timeline, render.workers, render.options.batch or 0, render.reads_video
        )
        render.info["tasks"] = len(batches)
        quality = render.options.jpeg_quality

        def tasks() -> Iterator[Task[int]]:
            for part in batches:
                args = (render.source, part, str(frames_dir), image_format, quality)
                yield Task(f"frames {part.start}..{part.stop - 1}", render_images, args, len(part))

        with render.stages.timed("frames"), render.dispatcher(2 * render.workers) as dispatch:
            for _ in dispatch.run(tasks()):
                pass
        with render.stages.timed("encode"):
            pattern = frames_dir / f"%06d.{IMAGE_SUFFIX[image_format]}"
            encode_images(
                pattern, render.timeline.frames, render.timeline.rate, render.job.encoder, video
            )


def _batches(timeline: Timeline, workers: int, batch: int, reads_video: bool = False) -> list[range]:
    """The tasks' frame ranges, in the order they are submitted."""
    if batch > 0 or not reads_video:
        if batch <= 0:
            batch = max(1, min(_MAX_BATCH, math.ceil(timeline.frames / (workers * _TASKS_PER_WORKER))))
        return [range(s, min(s + batch, timeline.frames)) for s in range(0, timeline.frames, batch)]
    return stretches(timeline.frames, workers, _RUNS_PER_WORKER)


def stretches(frames: int, workers: int, runs: int) -> list[range]:
    """``frames`` cut into a stretch per worker, each cut into ``runs`` runs, in the order that
    gives each worker its own stretch when they keep pace: the first run of every stretch, then
    the second of every stretch... (the pool hands tasks out in order, to whichever worker is
    free). A worker that falls behind leaves its stretch's later runs to the others."""
    workers = max(1, min(workers, frames))
    bounds = [frames * k // workers for k in range(workers + 1)]
    split = []
    for a, b in zip(bounds, bounds[1:]):
        count = max(1, min(runs, b - a))
        split.append([range(a + (b - a) * r // count, a + (b - a) * (r + 1) // count) for r in range(count)])
    order: list[range] = []
    for r in range(max(len(s) for s in split)):
        order.extend(s[r] for s in split if r < len(s) and len(s[r]))
    return order


renderer = ClipRenderer(Disk())
