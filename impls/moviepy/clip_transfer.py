"""The caller's clip (a :class:`~impls.model.protocol.ClipObject`) sent to a render's workers:
pickled once here, loaded once by each worker.

1. The clip is pickled when the render starts (:mod:`impls.moviepy.clip_pickle`), before
   any worker or ffmpeg starts: a clip that cannot travel fails now with
   :class:`~impls.errors.UnsendableClip`, which names the attribute that cannot be sent.
2. The payload goes where each worker fetches it once, never with every task, as the
   executor's capabilities allow: where the workers share this process's filesystem, a file
   in the render's scratch directory (removed with it); elsewhere the executor holds it for
   them (:class:`~impls.runtime.executor.Publisher`: a Dask cluster keeps it in its memory).
3. The render's tasks carry a :class:`PickledClip`, a small :class:`~impls.moviepy.worker.ClipRecipe`
   naming the payload, beside :class:`~impls.moviepy.worker.FactoryClip`: a worker turns it
   into the clip on its first task of the render and keeps it (``worker.clip_for``), noting
   how long loading took.
4. The result reports the cost: ``stages["transfer"]`` (pickling and sending the payload) and
   ``info["clip_transfer"]`` (bytes, seconds, each worker's load time).

In this process the clip stays the caller's: its size, timeline and audio are read from it (no
second copy is built) and it is never closed.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from impls.errors import InvalidJob
from impls.model.protocol import ClipObject, ClipSource, MoviePySource, RenderResult
from impls.moviepy import clip_pickle
from impls.moviepy.worker import FactoryClip
from impls.runtime.executor import Executor, Report, publisher

if TYPE_CHECKING:
    from moviepy import VideoClip

#: How the payload reached the workers: a file they read, or data their executor holds.
FILE, PUBLISHED = "file", "published"


@dataclass(frozen=True)
class FilePayload:
    """The payload in a file every worker reads; each load is noted in a file beside it."""

    path: str

    def load(self) -> VideoClip:
        started = time.perf_counter()
        clip = clip_pickle.load(Path(self.path).read_bytes())
        # One short line per load, appended: atomic on a local filesystem (O_APPEND).
        with contextlib.suppress(OSError), open(self.path + ".loads", "a") as notes:
            notes.write(f"{os.getpid()} {time.perf_counter() - started:.6f}\n")
        return clip

    def load_times(self) -> list[float]:
        try:
            lines = Path(self.path + ".loads").read_text().splitlines()
        except OSError:
            return []
        return [float(line.split()[1]) for line in lines if len(line.split()) == 2]


@dataclass(frozen=True)
class PublishedPayload:
    """The payload held by the executor under ``name``; ``use`` is its
    :meth:`~impls.runtime.executor.Publisher.use_published` (which times each load)."""

    name: str
    use: Callable[[str, Callable[[bytes], Any]], Any]

    def load(self) -> VideoClip:
        clip: VideoClip = self.use(self.name, clip_pickle.load)
        return clip


@dataclass(frozen=True)
class PickledClip:
    """The caller's clip, as a worker builds it: loaded from its render's payload."""

    token: str
    payload: FilePayload | PublishedPayload

    def build(self) -> VideoClip:
        return self.payload.load()


def supply(source: MoviePySource, executor: Executor, compression: str | None) -> Built | Shipment:
    """How the workers of a render of ``source`` get its clip: a clip object is pickled now (a
    :class:`Shipment`); a factory's clip is :class:`Built` by every worker (``compression``,
    which applies to a payload, is then refused)."""
    if isinstance(source, ClipObject):
        return Shipment(source, executor, compression)
    if compression is not None:
        raise InvalidJob(
            "option 'clip_compression' applies to a clip object (render(clip, ...)); the clip "
            "of a factory is built by every worker, not sent"
        )
    return Built(source)


@dataclass(frozen=True)
class Built:
    """A factory's clip: every worker builds it itself; nothing is sent."""

    source: ClipSource

    def recipe(self, token: str, scratch: Path) -> FactoryClip:
        return FactoryClip(self.source, token)

    def report(self, result: RenderResult, report: Report) -> None:
        """Nothing to add: the clip did not travel."""


class Shipment:
    """One render's pickled clip: made when the render starts, delivered once the render has a
    scratch directory (:meth:`recipe`), reported at its end (:meth:`report`)."""

    def __init__(self, source: ClipObject, executor: Executor, compression: str | None) -> None:
        self.executor = executor
        self.delivery = FILE if executor.capabilities.shares_filesystem else PUBLISHED
        if self.delivery == PUBLISHED:
            publisher(executor)  # refused before the clip is pickled
        self.payload: clip_pickle.Payload | None = clip_pickle.dump(source.clip, compression=compression)
        self.stats = {
            "bytes": self.payload.bytes,
            "raw_bytes": self.payload.raw_bytes,
            "compressed": self.payload.compressed,
            "constant_arrays": self.payload.constants,
            "delivery": self.delivery,
        }
        self.dump_s = self.payload.dump_s
        self.send_s = 0.0
        self.sent: FilePayload | PublishedPayload | None = None

    def recipe(self, token: str, scratch: Path) -> PickledClip:
        """Deliver the payload (a file in ``scratch``, or held by the executor) and name it."""
        payload, self.payload = self.payload, None  # this process keeps no copy of its own
        assert payload is not None
        started = time.perf_counter()
        if self.delivery == FILE:
            path = scratch / "clip.pickle"
            path.write_bytes(payload.data)
            self.sent = FilePayload(str(path))
        else:
            executor = publisher(self.executor)
            name = f"renderbench-clip-{token}"
            executor.publish(name, payload.data)
            self.sent = PublishedPayload(name, executor.use_published)
        self.send_s = time.perf_counter() - started
        return PickledClip(token, self.sent)

    def report(self, result: RenderResult, report: Report) -> None:
        """Add to ``result`` what sending the clip cost: ``stages["transfer"]`` (pickling and
        sending) and ``info["clip_transfer"]``. ``report`` is the executor's, which says what
        holding published data cost. Call it before the scratch directory is removed (a file
        payload's load notes are there)."""
        sent, loads = self.send_s, []
        if isinstance(self.sent, FilePayload):
            loads = self.sent.load_times()
        elif self.sent is not None and self.sent.name in report.published:
            published = report.published[self.sent.name]
            sent += published.send_s
            loads = list(published.use_s)
        result.stages["transfer"] = self.dump_s + sent
        result.info["clip_transfer"] = {
            **self.stats,
            "dump_s": round(self.dump_s, 6),
            "send_s": round(sent, 6),
            "load_s_per_worker": [round(seconds, 6) for seconds in loads],
        }
