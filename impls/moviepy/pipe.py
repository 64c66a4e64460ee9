"""``pipe``: workers render frames; the parent writes them, in order, to one ffmpeg's stdin.

Options (``job.options``):

- ``max_inflight`` (default ``2 * workers``, at most 100): frames submitted and not yet written.
  Memory is bounded by it: frames live only in that many fixed slots.
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
from impls.moviepy.worker import render_bytes, render_jpeg, render_to_slot
from impls.runtime.dispatch import Task
from impls.runtime.executor import Capabilities

MAX_INFLIGHT = 100
TRANSPORTS = ("shm", "bytes", "jpeg")
_SHM = "/dev/shm"


@dataclasses.dataclass(frozen=True)
class PipeOptions(ClipOptions):
    max_inflight: int | None = integer(high=MAX_INFLIGHT)
    transport: str | None = choice(TRANSPORTS)
    jpeg_quality: int = integer(95, high=100)

    def window(self, workers: int) -> int:
        """Frames in flight: ``max_inflight``, else twice the workers (at most 100)."""
        return self.max_inflight or min(MAX_INFLIGHT, 2 * workers)

    def transport_for(self, capabilities: Capabilities) -> str:
        return self.transport or ("shm" if capabilities.shares_memory else "bytes")

    def check_clip(self, render: ClipRender[Any]) -> None:
        """Refuse, before anything starts, frames in flight that cannot fit in memory (nor, for
        ``shm``, in /dev/shm): each one is a whole raw frame."""
        transport = self.transport_for(render.executor.capabilities)
        if transport == "jpeg":
            return  # compressed in flight: a frame's size is not known ahead
        window, frame = self.window(render.workers), render.source.frame_bytes
        needed = window * frame
        room = {"memory available": psutil.virtual_memory().available}
        if transport == "shm" and os.path.isdir(_SHM):
            shm = os.statvfs(_SHM)
            room[f"free in {_SHM}"] = shm.f_bavail * shm.f_frsize
        where, limit = min(room.items(), key=lambda item: item[1])
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
        options, source = render.options, render.source
        window = options.window(render.workers)
        transport = options.transport_for(render.executor.capabilities)
        render.info.update(max_inflight=window, transport=transport)
        size = render.source.frame_bytes
        if transport == "jpeg":
            render.info.update(lossy_transport=True, jpeg_quality=options.jpeg_quality)
            fmt: RawFormat | PipedImages = PipedImages(render.timeline.rate)
        else:
            fmt = render.source.raw_format(render.timeline.rate)
        with contextlib.ExitStack() as stack:
            block = stack.enter_context(_shared_block(size * window)) if transport == "shm" else None

            def tasks() -> Iterator[Task[Any]]:
                source = render.source  # read once the dispatcher has run the fast path's check
                for index in range(render.timeline.frames):
                    label = f"frame {index}"
                    if block is not None:
                        args = (source, index, block.name, (index % window) * size)
                        yield Task(label, render_to_slot, args, frames=1)
                    elif transport == "jpeg":
                        yield Task(label, render_jpeg, (source, index, options.jpeg_quality), 1)
                    else:
                        yield Task(label, render_bytes, (source, index), frames=1)

            with render.stages.timed("frames"):
                dispatch = stack.enter_context(render.dispatcher(window, ordered=True))
                writer = stack.enter_context(FrameWriter(video, fmt, render.job.encoder))
                for task, value in dispatch.run(tasks()):
                    if block is not None:
                        offset = (task.args[1] % window) * size
                        # Released even when the write fails, so that the block can be closed.
                        with block.buf[offset : offset + size] as slot:
                            writer.write(slot)
                    else:
                        writer.write(value)
            with render.stages.timed("flush"):  # the encoder's last frames (lookahead)
                writer.close()


renderer = ClipRenderer(Pipe())
