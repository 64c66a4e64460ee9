"""``chunk``: each task renders a contiguous range of frames into its own segment.

Ranges are split by frame index (:meth:`Timeline.split`), never by time: cutting the clip with
``subclipped`` loses frames to ``int(duration * fps)`` truncation at every cut. Every segment is
encoded by its own ffmpeg with identical arguments, so each starts on a keyframe and the concat
demuxer joins them with ``-c copy``; each segment's frame count is checked before joining. The
audio track is encoded once for the whole clip and muxed at the end (per-chunk AAC would put a
priming gap at every seam).

Options (``job.options``):

- ``chunks``: number of segments. Default ``3 * workers`` (so a slow chunk does not leave the
  other cores idle at the end), with at least 40 frames per chunk, but never fewer chunks than
  workers. Short chunks cost quality at the same crf: the encoder cannot look past a chunk's
  end (x264 medium looks 40 frames ahead) and each chunk starts on a keyframe (the README has
  the measured loss).
- ``shared_dir``: a directory that every worker and this process see at the same path (NFS,
  a cluster filesystem). Workers write their segments there and this process reads them from
  there; a private subdirectory is made for the render and removed after it. Without it,
  workers that share this process's filesystem write into the render's scratch directory;
  others (Dask: no shared filesystem is assumed) return each segment's bytes (encoded in a
  private directory of their worker), which are written to the scratch directory here.
- ``start_method``: see :class:`~impls.moviepy.shell.ClipOptions`.

The encoder's ``threads``: every chunk's ffmpeg runs beside the other workers and their
ffmpegs, and x264 by default starts about 1.5 threads per core of the machine, each holding
frames of its own. Unless ``EncoderSpec.threads`` is set, each encoder gets a fair share of the
cores (cores // workers, at least 1; ``info["encoder_threads"]``) where the executor's workers
share this machine's cores (:attr:`~impls.runtime.executor.Capabilities.shares_cores`); workers
elsewhere keep the encoder's default (their machines' cores are not known here). Threads
change x264's bitstream, never what a lossless encode decodes to.

Workers on other machines build the clip from the :class:`~impls.model.protocol.ClipSource`
factory themselves, so the factory's module (and whatever files it reads) must be importable
(readable) on every one of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from impls.errors import RenderFailed
from impls.ffmpeg.files import writing
from impls.ffmpeg.operations import concat
from impls.model.options import directory, integer
from impls.model.protocol import EncoderSpec
from impls.moviepy.shell import ClipOptions, ClipRender, ClipRenderer
from impls.moviepy.worker import Segment, render_segment
from impls.runtime.dispatch import Task
from impls.runtime.executor import Capabilities, usable_cores

CHUNKS_PER_WORKER = 3
MIN_CHUNK_FRAMES = 40


def default_chunks(frames: int, workers: int) -> int:
    wanted = min(CHUNKS_PER_WORKER * workers, frames // MIN_CHUNK_FRAMES)
    return max(1, min(frames, max(workers, wanted)))


def encoder_threads(encoder: EncoderSpec, workers: int, capabilities: Capabilities) -> int | None:
    """Threads for each chunk's encoder: the user's, else a fair share of this machine's cores
    where the workers share them, else None (the encoder's default)."""
    if encoder.threads is not None:
        return encoder.threads
    if not capabilities.shares_cores:
        return None
    return max(1, usable_cores() // workers)


@dataclasses.dataclass(frozen=True)
class ChunkOptions(ClipOptions):
    chunks: int | None = integer(low=0)  # 0 or None: default_chunks
    shared_dir: str | None = directory()


class Chunk:
    """Contiguous frame ranges encoded in parallel, joined without re-encoding."""

    name = "chunk"
    options = ChunkOptions

    def write_video(self, render: ClipRender[ChunkOptions], video: Path) -> None:
        frames = render.timeline.frames
        ranges = render.timeline.split(render.options.chunks or default_chunks(frames, render.workers))
        render.info["chunks"] = len(ranges)
        suffix = render.job.output.suffix
        threads = encoder_threads(render.job.encoder, render.workers, render.executor.capabilities)
        render.info["encoder_threads"] = threads
        encoder = dataclasses.replace(render.job.encoder, threads=threads)
        with _segment_dir(render) as (directory, target):

            def tasks() -> Iterator[Task[Segment]]:
                for number, part in enumerate(ranges):
                    label = f"chunk {number} (frames {part.start}..{part.stop - 1})"
                    args = (
                        render.source, part, encoder, render.timeline.rate, target, suffix,
                        render.executor.worker_scratch,
                    )  # fmt: skip
                    yield Task(label, render_segment, args, frames=len(part))

            segments: dict[int, Segment] = {}
            with render.stages.timed("frames"), render.dispatcher(2 * render.workers) as dispatch:
                for task, segment in dispatch.run(tasks()):
                    expected = task.args[1]
                    if segment.frames != len(expected):
                        raise RenderFailed(
                            f"{task.label}: the segment has {segment.frames} frames, expected "
                            f"{len(expected)}"
                        )
                    segments[segment.start] = _kept(segment, directory, suffix)
            paths = [Path(str(segments[start].path)) for start in sorted(segments)]
            with render.stages.timed("concat"):
                concat(paths, video, render.scratch)
            for path in paths:  # disk back before the mux
                path.unlink(missing_ok=True)


@contextlib.contextmanager
def _segment_dir(render: ClipRender[ChunkOptions]) -> Iterator[tuple[Path, str | None]]:
    """Where segments are joined, and the directory workers write to (None: they send bytes)."""
    directory = render.scratch / "segments"
    directory.mkdir(mode=0o700)
    shared = render.options.shared_dir
    if shared is not None:
        own = Path(tempfile.mkdtemp(prefix="renderbench-chunk-", dir=shared))
        render.info["segments"] = "shared_dir"
        try:
            yield own, str(own)
        finally:
            shutil.rmtree(own, ignore_errors=True)
    elif not render.executor.capabilities.shares_filesystem:
        render.info["segments"] = "bytes"
        yield directory, None
    else:
        render.info["segments"] = "scratch"
        yield directory, str(directory)


def _kept(segment: Segment, directory: Path, suffix: str) -> Segment:
    """A segment that came back as bytes, written here (the bytes are let go)."""
    if segment.data is None:
        return segment
    path = directory / f"segment-{segment.start:08d}{suffix}"
    with writing(path, f"writing the segment from frame {segment.start}"):
        path.write_bytes(segment.data)
    return dataclasses.replace(segment, path=str(path), data=None)


renderer = ClipRenderer(Chunk())
