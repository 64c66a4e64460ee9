"""The worker side of the parallel MoviePy renderers: frames by integer index.

Tasks carry a small picklable :class:`FrameSource`, never a clip. Each worker process builds the
clip from the source's :class:`ClipRecipe` on its first task and keeps it for the rest of the
render (:func:`clip_for`), so the recipe runs once per process, whatever the start method
(``spawn``, ``forkserver``, a Dask worker). A recipe is anything that builds the clip in a
worker and names the render with a token: :class:`FactoryClip` calls a :class:`ClipSource`'s
factory, :class:`~impls.moviepy.clip_transfer.PickledClip` loads the caller's clip sent pickled;
another kind of recipe needs only those two members.

Frames come from :mod:`impls.model.timeline` only (same times and conversion as MoviePy's
``iter_frames``); the clip's mask is computed only when the encoder keeps alpha. With
``FrameSource.fast_path`` they are made by :mod:`impls.moviepy.fastpath` (the same bytes, less
work), which the render turns on once :func:`check_fast_path` found its sampled frames equal to
MoviePy's. An exception in user code becomes :class:`FrameFailed` naming the frame, its time and the worker's traceback;
any other failure in a task becomes :class:`RenderFailed` with the traceback as text. Both
pickle, so the parent re-raises them as they are.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import tempfile
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from impls.errors import FrameFailed, RenderbenchError, RenderFailed, SourceReadFailed
from impls.ffmpeg.command import RawFormat
from impls.ffmpeg.files import disk_full, writing
from impls.ffmpeg.probe import count_packets
from impls.ffmpeg.process import FrameWriter
from impls.ffmpeg.tools import use_for_moviepy
from impls.model.protocol import ClipSource, EncoderSpec
from impls.model.timeline import Timeline, frame_rgb, frame_rgba
from impls.moviepy import allocator
from impls.moviepy.color_clips import lean_color_clips
from impls.moviepy.readers import guarded

if TYPE_CHECKING:
    from multiprocessing.shared_memory import SharedMemory

    from moviepy import VideoClip

    from impls.moviepy.fastpath import Checked, FastFrames

Frame = np.ndarray[Any, np.dtype[np.uint8]]

#: Image formats the ``disk`` renderer writes: suffix per format.
IMAGE_SUFFIX = {"ppm": "ppm", "pam": "pam", "png": "png", "jpeg": "jpg"}

#: Imported once by a forkserver, so each worker forked from it starts with them loaded
#: (MoviePy alone takes a good part of a second to import).
WORKER_MODULES = ("numpy", "moviepy", __name__)

#: Clips kept per process: one render at a time normally; two so that a process shared by two
#: renders (a Dask worker) does not rebuild on every alternate task.
_CACHE_SIZE = 2


class ClipRecipe(Protocol):
    """What a worker builds its clip from, once per process and render."""

    @property
    def token(self) -> str:
        """Unique per render: keys the worker's clip cache (:func:`forget_clip`)."""
        ...

    def build(self) -> VideoClip: ...


@dataclass(frozen=True)
class FactoryClip:
    """The clip of a :class:`ClipSource`: the worker calls its factory."""

    source: ClipSource
    token: str

    def build(self) -> VideoClip:
        return self.source.load()


@dataclass(frozen=True)
class FrameSource:
    """What a worker needs to compute frames: the clip's recipe and how frames are read.

    ``fast_path``: frames are made by :mod:`impls.moviepy.fastpath`.
    """

    recipe: ClipRecipe
    fps: Fraction | None
    alpha: bool
    width: int
    height: int
    fast_path: bool = False

    @property
    def channels(self) -> int:
        return 4 if self.alpha else 3

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * self.channels

    def raw_format(self, rate: Fraction) -> RawFormat:
        return RawFormat(
            self.width, self.height, rate, pix_fmt="rgba" if self.alpha else "rgb24"
        )


_clips: collections.OrderedDict[str, tuple[VideoClip, Timeline]] = collections.OrderedDict()
_fast: dict[str, FastFrames] = {}  # by token, for the clips in _clips
_shared: collections.OrderedDict[str, SharedMemory] = collections.OrderedDict()


@contextlib.contextmanager
def _task(what: str, writes: Path | None = None) -> Iterator[None]:
    """Turn anything but renderbench's own errors into a picklable RenderFailed with its text;
    a full filesystem met writing ``writes`` into :class:`~impls.errors.DiskFull`."""
    try:
        yield
    except RenderbenchError:
        raise
    except Exception as exc:
        full = disk_full(writes, what, exc) if writes is not None else None
        if full is not None:
            raise full from None
        text = traceback.format_exc()
        raise RenderFailed(
            f"{what} failed in worker pid {os.getpid()}: {type(exc).__name__}: {exc}\n{text}"
        ) from None


def clip_for(source: FrameSource) -> tuple[VideoClip, Timeline]:
    """This process's clip for ``source``, built from its recipe on first use."""
    token = source.recipe.token
    cached = _clips.get(token)
    if cached is not None:
        _clips.move_to_end(token)
        return cached
    allocator.tune()  # only worker processes get here; see impls.moviepy.allocator
    use_for_moviepy()
    # Constant images as one pixel each (color_clips); readers checked (readers).
    with lean_color_clips(), guarded():
        clip = source.recipe.build()
    timeline = Timeline.for_clip(clip, source.fps)
    _clips[token] = (clip, timeline)
    while len(_clips) > _CACHE_SIZE:
        old_token, (old, _) = _clips.popitem(last=False)
        _fast.pop(old_token, None)
        with contextlib.suppress(Exception):
            old.close()
    return clip, timeline


def fast_frames_for(source: FrameSource) -> FastFrames:
    """This process's fast path for ``source``'s clip, planned on first use."""
    clip, _ = clip_for(source)
    fast = _fast.get(source.recipe.token)
    if fast is None:
        from impls.moviepy.fastpath import FastFrames

        fast = _fast[source.recipe.token] = FastFrames(clip)
    return fast


def forget_clip(token: str) -> None:
    """Drop this process's clip of the render ``token`` (a worker that outlives the render)."""
    cached = _clips.pop(token, None)
    _fast.pop(token, None)
    if cached is not None:
        with contextlib.suppress(Exception):
            cached[0].close()


def frame(source: FrameSource, index: int) -> Frame:
    """Frame ``index`` as HxWx3 (or x4 with alpha) uint8, C-contiguous."""
    clip, timeline = clip_for(source)
    fast = fast_frames_for(source) if source.fast_path else None
    return _make_frame(source, clip, timeline, index, fast)


def _make_frame(
    source: FrameSource, clip: VideoClip, timeline: Timeline, index: int, fast: FastFrames | None
) -> Frame:
    t = timeline.time(index)
    try:
        with guarded():
            if fast is not None:
                image = fast.rgba(t) if source.alpha else fast.rgb(t)
            else:
                image = frame_rgba(clip, t) if source.alpha else frame_rgb(clip, t)
    except SourceReadFailed as exc:
        # A reader of this clip is dead: the retry builds the clip, and its readers, anew.
        forget_clip(source.recipe.token)
        raise exc.during(f"frame {index} (t={float(t):.6f}s) in worker pid {os.getpid()}") from None
    except Exception as exc:
        raise FrameFailed(
            index, float(t), f"{type(exc).__name__}: {exc}", traceback.format_exc()
        ) from None
    expected = (source.height, source.width, source.channels)
    if image.shape != expected:
        raise FrameFailed(
            index,
            float(t),
            f"frame has shape {image.shape}, expected {expected}: every frame must have the "
            "clip's size",
        )
    return image


# ---------------------------------------------------------------------------------------------
# Tasks (module-level functions: they are pickled by reference)


def check_fast_path(source: FrameSource, indices: tuple[int, ...]) -> list[Checked]:
    """Make frames ``indices`` both by MoviePy and by the fast path and compare their bytes.

    MoviePy's frame is made first, exactly as :func:`frame` makes it without the fast path (so
    an error in the user's code is a :class:`FrameFailed`, as it would be when rendering).
    """
    from impls.moviepy.fastpath import Checked, difference

    clip, timeline = clip_for(source)
    fast = fast_frames_for(source)
    checked = []
    for index in indices:
        expected = _make_frame(source, clip, timeline, index, None)
        before = fast.fallbacks
        try:
            got = _make_frame(source, clip, timeline, index, fast)
        except FrameFailed as exc:  # MoviePy made the frame a moment ago: the fast path's fault
            checked.append(Checked(index, f"the fast path failed: {exc}", fallback=True))
            continue
        with _task(f"comparing frame {index}"):
            checked.append(Checked(index, difference(expected, got), fast.fallbacks > before))
    return checked


def _attach(name: str) -> SharedMemory:
    from multiprocessing.shared_memory import SharedMemory

    block = _shared.get(name)
    if block is None:
        block = _shared[name] = SharedMemory(name=name)
        # Blocks of earlier renders are gone (their owner unlinked them): drop our mappings.
        while len(_shared) > _CACHE_SIZE:
            _, old = _shared.popitem(last=False)
            with contextlib.suppress(Exception):
                old.close()
    return block


def render_to_slots(source: FrameSource, indices: range, block: str, window: int) -> int:
    """Render frames ``indices`` into the parent's shared memory ``block``: frame ``i`` into
    slot ``i % window`` (the block holds ``window`` frames); return how many were rendered."""
    size = source.frame_bytes
    for index in indices:
        image = frame(source, index)
        with _task(f"frame {index} (copy to shared memory)"):
            offset = (index % window) * size
            view = np.ndarray(image.shape, np.uint8, buffer=_attach(block).buf, offset=offset)
            view[...] = image
            del view  # a live view would keep the block's buffer exported
    return len(indices)


def render_bytes(source: FrameSource, indices: range) -> list[bytes]:
    """Frames ``indices`` as raw bytes (the transport when no shared memory is possible)."""
    return [frame(source, index).tobytes() for index in indices]


def render_jpeg(source: FrameSource, indices: range, quality: int) -> list[bytes]:
    """Frames ``indices`` as JPEGs (lossy, smaller transport; ffmpeg decodes them full-range)."""
    jpegs = []
    for index in indices:
        image = frame(source, index)
        with _task(f"frame {index} (JPEG)"):
            import io

            from PIL import Image

            buffer = io.BytesIO()
            Image.fromarray(image[..., :3]).save(buffer, format="JPEG", quality=quality)
            jpegs.append(buffer.getvalue())
    return jpegs


def _ppm_header(source: FrameSource) -> bytes:
    if source.alpha:  # PAM: the netpbm format that carries alpha
        return (
            f"P7\nWIDTH {source.width}\nHEIGHT {source.height}\nDEPTH 4\nMAXVAL 255\n"
            "TUPLTYPE RGB_ALPHA\nENDHDR\n"
        ).encode()
    return f"P6\n{source.width} {source.height}\n255\n".encode()


def render_images(
    source: FrameSource, indices: range, directory: str, image_format: str, quality: int
) -> int:
    """Write frames ``indices`` as ``directory/%06d.<suffix>``; return how many were written.

    ``ppm``/``pam`` are uncompressed (a header and the pixels: no CPU spent on compression);
    ``png`` is lossless but slow to compress; ``jpeg`` is lossy.
    """
    suffix = IMAGE_SUFFIX[image_format]
    header = _ppm_header(source) if image_format in {"ppm", "pam"} else b""
    for index in indices:
        image = frame(source, index)
        path = Path(directory) / f"{index:06d}.{suffix}"
        with _task(f"writing frame {index} to {path}", writes=path):
            if header:
                with open(path, "wb") as out:
                    out.write(header)
                    out.write(image.data)
            else:
                from PIL import Image

                picture = Image.fromarray(image if image_format == "png" else image[..., :3])
                if image_format == "jpeg":
                    picture.save(path, format="JPEG", quality=quality)
                else:
                    picture.save(path, format="PNG")
    return len(indices)


@dataclass(frozen=True)
class Segment:
    """One encoded chunk: a file the parent can read (``path``) or its bytes (``data``)."""

    start: int
    stop: int
    frames: int  # video packets counted in the written file
    path: str | None = None
    data: bytes | None = None


def render_segment(
    source: FrameSource,
    indices: range,
    encoder: EncoderSpec,
    rate: Fraction,
    directory: str | None,
    suffix: str = ".mp4",
    scratch: Callable[[], str | None] = tempfile.gettempdir,
) -> Segment:
    """Encode frames ``indices`` into one segment with its own ffmpeg.

    With ``directory`` the segment is written there (a filesystem the parent sees); with
    ``None`` it is written to a private temporary directory and returned as bytes (no shared
    filesystem). Every attempt writes a new file: the ffmpeg of an attempt whose worker was
    killed may still be finishing its own. The frame count is read back here, in parallel.
    The private directory lies in ``scratch()``, the executor's ``worker_scratch``.
    """
    private = None
    if directory is None:
        where = scratch() or tempfile.gettempdir()
        with writing(where, "making a private directory for a segment"):
            private = Path(tempfile.mkdtemp(prefix="renderbench-seg-", dir=where))
    name = f"segment-{indices.start:08d}-{uuid.uuid4().hex[:8]}{suffix}"
    target = Path(directory if directory is not None else str(private)) / name
    path = str(target) if directory is not None else None
    try:
        with FrameWriter(target, source.raw_format(rate), encoder) as writer:
            for index in indices:
                writer.write(frame(source, index))
        with _task(f"counting frames of {target.name}"):
            counted = count_packets(target)
        data = target.read_bytes() if private is not None else None
    except BaseException:
        target.unlink(missing_ok=True)  # a retried chunk writes a new file; this one is void
        raise
    finally:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
    return Segment(indices.start, indices.stop, counted, path, data)
