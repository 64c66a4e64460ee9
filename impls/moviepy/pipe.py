"""``pipe``: workers render frames; the parent writes them, in order, to one ffmpeg's stdin.

Options (``job.options``):

- ``max_inflight`` (at most 100): frames submitted and not yet written. Memory is bounded by
  it: frames live only in that many fixed slots. Default: ``2 * workers``; for a clip that
  reads video files, as many as a quarter of the memory (and of /dev/shm) holds, at most 100,
  so that the runs below can be long.
- ``run_frames``: consecutive frames per task (at most ``max_inflight``; a task holds a slot
  per frame, so ``max_inflight // run_frames`` tasks are in flight). Default: 1, for a clip
  that reads no video file (the finest balance, nothing to gain from runs); for one that does,
  ``max_inflight // workers``: a worker's MoviePy reader reads a run forward, where single
  frames would make it decode (or seek past) the frames the other workers render, every
  worker decoding the whole file again.
- ``transport``: how a frame reaches the parent.
  ``"shm"`` (the default where the executor's workers share memory with this process): the
  worker copies the frame into a slot of one shared-memory block
  (``multiprocessing.shared_memory``) that the parent writes to ffmpeg without a copy or a
  pickle, so the parent of many workers keeps up (the README has the measurements).
  ``"bytes"`` (the default elsewhere, e.g. on Dask): the frame travels back as the task's
  result, raw; on a cluster every frame crosses the network, and ``chunk``, which sends
  encoded segments, suits it better.
  ``"jpeg"``: frames travel as JPEG (``jpeg_quality``, default 95). Lossy, and ffmpeg decodes
  JPEG as full-range ``yuvj420p``: the pixels differ from the baseline's, so it is never the
  default and the result says ``lossy_transport``.
- ``start_method``: see :class:`~impls.moviepy.shell.ClipOptions`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from impls.errors import InvalidJob
from impls.ffmpeg.command import PipedImages, RawFormat
from impls.ffmpeg.process import FrameWriter
from impls.model.options import choice, integer
from impls.model.protocol import EncoderSpec
from impls.moviepy.shell import ClipOptions, ClipRender, ClipRenderer
from impls.moviepy.worker import render_bytes, render_jpeg, render_to_slots
from impls.runtime.dispatch import Task
from impls.runtime.executor import Capabilities

MAX_INFLIGHT = 100
#: Share of the memory (or /dev/shm) that the default window of a clip reading video files
#: may take.
_DEFAULT_SHARE = 4
TRANSPORTS = ("shm", "bytes", "jpeg")
_SHM = "/dev/shm"


@dataclasses.dataclass(frozen=True)
class PipeOptions(ClipOptions):
    max_inflight: int | None = integer(high=MAX_INFLIGHT)
    transport: str | None = choice(TRANSPORTS)
    jpeg_quality: int = integer(95, high=100)
    run_frames: int | None = integer(high=MAX_INFLIGHT)

    def window(self, render: ClipRender[Any]) -> int:
        """Frames in flight: ``max_inflight``; else twice the workers, or, for a clip that reads
        video files, what a quarter of the room holds (at most 100, at least twice the
        workers)."""
        if self.max_inflight:
            return self.max_inflight
        workers = min(MAX_INFLIGHT, 2 * render.workers)
        if not render.reads_video:
            return workers
        _, room = self._room(render)
        fits = room // _DEFAULT_SHARE // max(1, render.source.frame_bytes)
        return max(workers, min(MAX_INFLIGHT, fits))

    def run_length(self, render: ClipRender[Any], window: int) -> int:
        """Frames per task: ``run_frames``, else a run per worker for a clip reading video."""
        if self.run_frames:
            return self.run_frames
        return max(1, window // render.workers) if render.reads_video else 1

    def transport_for(self, capabilities: Capabilities) -> str:
        return self.transport or ("shm" if capabilities.shares_memory else "bytes")

    def _room(self, render: ClipRender[Any]) -> tuple[str, int]:
        """Where frames in flight live and how many bytes are free there."""
        transport = self.transport_for(render.executor.capabilities)
        room = {"memory available": psutil.virtual_memory().available}
        if transport == "shm" and os.path.isdir(_SHM):
            shm = os.statvfs(_SHM)
            room[f"free in {_SHM}"] = shm.f_bavail * shm.f_frsize
        return min(room.items(), key=lambda item: item[1])

    def check_clip(self, render: ClipRender[Any]) -> None:
        """Refuse, before anything starts, frames in flight that cannot fit in memory (nor, for
        ``shm``, in /dev/shm): each one is a whole raw frame; and runs longer than the window."""
        window = self.window(render)
        if self.run_frames and self.run_frames > window:
            raise InvalidJob(
                f"run_frames {self.run_frames} is more than the {window} frames in flight "
                f"(max_inflight): a task holds a slot per frame; lower run_frames or raise "
                "max_inflight"
            )
        if self.transport_for(render.executor.capabilities) == "jpeg":
            return  # compressed in flight: a frame's size is not known ahead
        frame = render.source.frame_bytes
        needed = window * frame
        where, limit = self._room(render)
        if needed <= limit:
            return
        fits = limit // frame
        fix = (
            f"lower max_inflight to {fits} or less (options={{'max_inflight': {fits}}})"
            if fits >= 1
            else "not even one frame fits: render smaller frames"
        )
        raise InvalidJob(
            f"pipe keeps {window} frames in flight (max_inflight), {_gib(needed)} for "
            f"{render.source.width}x{render.source.height} frames of {_gib(frame)} each, but "
            f"only {_gib(limit)} is {where}: {fix}, or use chunk, which keeps no frames in flight"
        )

    def check(self, encoder: EncoderSpec, executor: str, capabilities: Capabilities) -> None:
        if self.transport == "shm" and not capabilities.shares_memory:
            raise InvalidJob(
                "transport 'shm' needs shared memory with the workers, which the workers of "
                f"executor {executor!r} do not have; use transport 'bytes' (the default there) "
                "or 'jpeg'"
            )


def _gib(count: int) -> str:
    return f"{count / 2**30:.2f} GiB" if count >= 2**30 else f"{count / 2**20:.1f} MiB"


@contextlib.contextmanager
def _shared_block(size: int) -> Iterator[Any]:
    from multiprocessing.shared_memory import SharedMemory

    block = SharedMemory(create=True, size=size)
    try:
        yield block
    finally:
        with contextlib.suppress(Exception):
            block.close()
        with contextlib.suppress(FileNotFoundError):
            block.unlink()


class Pipe:
    """Frames rendered in parallel, encoded in order by one ffmpeg reading its stdin."""

    name = "pipe"
    options = PipeOptions

    def write_video(self, render: ClipRender[PipeOptions], video: Path) -> None:
        options = render.options
        window = options.window(render)
        run = options.run_length(render, window)
        transport = options.transport_for(render.executor.capabilities)
        render.info.update(max_inflight=window, run_frames=run, transport=transport)
        size = render.source.frame_bytes
        if transport == "jpeg":
            render.info.update(lossy_transport=True, jpeg_quality=options.jpeg_quality)
            fmt: RawFormat | PipedImages = PipedImages(render.timeline.rate)
        else:
            fmt = render.source.raw_format(render.timeline.rate)
        frames = render.timeline.frames
        with contextlib.ExitStack() as stack:
            block = stack.enter_context(_shared_block(size * window)) if transport == "shm" else None

            def tasks() -> Iterator[Task[Any]]:
                source = render.source  # read once the dispatcher has run the fast path's check
                for start in range(0, frames, run):
                    part = range(start, min(start + run, frames))
                    label = f"frame {start}" if len(part) == 1 else f"frames {start}..{part[-1]}"
                    if block is not None:
                        args: tuple[Any, ...] = (source, part, block.name, window)
                        yield Task(label, render_to_slots, args, frames=len(part))
                    elif transport == "jpeg":
                        args = (source, part, options.jpeg_quality)
                        yield Task(label, render_jpeg, args, frames=len(part))
                    else:
                        yield Task(label, render_bytes, (source, part), frames=len(part))

            with render.stages.timed("frames"):
                # Runs in flight hold at most `window` consecutive frames, so frame i's slot,
                # i % window, is free by the time its run is submitted.
                dispatch = stack.enter_context(
                    render.dispatcher(max(1, window // run), ordered=True)
                )
                writer = stack.enter_context(FrameWriter(video, fmt, render.job.encoder))
                for task, value in dispatch.run(tasks()):
                    if block is None:
                        for data in value:
                            writer.write(data)
                        continue
                    for index in task.args[1]:
                        offset = (index % window) * size
                        # Released even when the write fails, so that the block can be closed.
                        with block.buf[offset : offset + size] as slot:
                            writer.write(slot)
            with render.stages.timed("flush"):  # the encoder's last frames (lookahead)
                writer.close()


renderer = ClipRenderer(Pipe())
