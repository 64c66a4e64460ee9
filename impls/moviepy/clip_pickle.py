"""A live MoviePy clip as bytes that any worker process turns back into the same clip.

The clip is pickled once, in the caller, with cloudpickle (functions defined in a script's
``__main__`` travel by value, so a worker never imports the user's script), and three reducers
for what MoviePy clips hold that plain pickling gets wrong:

- **Readers.** ``FFMPEG_VideoReader`` and ``FFMPEG_AudioReader`` (``VideoFileClip``,
  ``AudioFileClip``) hold a running ffmpeg (a ``Popen``: ``cannot pickle '_thread.lock'``).
  They travel as their state without the process (the file's probed facts included, so a
  worker sees the same fps, size and duration) and come back as a reader that starts its own
  ffmpeg on its first read, exactly as a freshly built one starts: no process or pipe is
  shared, and a process that never reads a file (a worker never reads audio) never starts one.
- **Constant images.** MoviePy keeps many full-frame constant images: every ``ColorClip``
  (each ``CompositeVideoClip`` background, its mask's background, each ``with_mask()``) is a
  tiled array, 66 MB for an RGBA int64 1080p background. Pickled naively the 1080p slideshow is
  525 MB. A large array that is constant (checked on a few samples first, then fully) travels
  as one pixel and a shape. It comes back as a read-only zero-stride view where MoviePy only
  reads it (a ``ColorClip``'s image and its mask's, or an array that was a view or read-only
  already): the one-pixel ColorClips of :mod:`impls.moviepy.color_clips`. A writable constant
  array of the user's (a scratch buffer a frame function writes into) comes back writable.
- **Compression** (zlib level 1) is applied when it pays: when it shrinks the payload by at
  least a fifth (constant data that the reducers did not catch); detailed images barely
  compress and are sent as they are. ``compression`` can also ask for it always or never.

A clip that cannot be pickled raises :class:`~impls.errors.UnsendableClip` naming the
attribute path of the first object that cannot be sent
(``clip.clips[1].frame_function.<closure>.sock``), found by walking the clip the way pickle
does (:func:`find_unpicklable`).
"""

from __future__ import annotations

import functools
import io
import os
import pickle
import time
import types
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from impls.errors import InvalidSource, UnsendableClip

#: Arrays smaller than this are pickled as they are (checking them costs more than it saves).
CONSTANT_MIN_BYTES = 64 * 1024
#: Payloads are compressed when zlib level 1 saves at least this fraction (``compression=None``).
COMPRESS_MIN_SAVING = 0.2
#: ``compression`` other than ``None`` (when it pays): always, or never.
COMPRESSIONS = ("zlib", "none")
#: Bytes of the payload zlib is tried on before compressing all of it.
_COMPRESS_PROBE_BYTES = 1024 * 1024
#: Pixels compared before an array is checked in full.
_SAMPLES = 61
#: Bytes compared at a time when an array is checked in full (a strided view is copied block
#: by block: small blocks stay in cache and reuse the allocator's memory).
_BLOCK_BYTES = 4 << 20

_MAGIC = b"RBC1"
_RAW, _ZLIB = 0, 1
_HEADER = len(_MAGIC) + 1


@dataclass(frozen=True)
class Payload:
    """A pickled clip: ``data`` (possibly compressed) and what producing it cost."""

    data: bytes
    raw_bytes: int  # the pickle's size before compression
    compressed: bool
    dump_s: float
    constants: int  # constant arrays sent as one pixel

    @property
    def bytes(self) -> int:
        return len(self.data)


# ---------------------------------------------------------------------------------------------
# Readers: state without the process; a fresh ffmpeg on the first read


def _reader_classes() -> tuple[type[Any], type[Any]]:
    from moviepy.audio.io.readers import FFMPEG_AudioReader
    from moviepy.video.io.ffmpeg_reader import FFMPEG_VideoReader

    return FFMPEG_VideoReader, FFMPEG_AudioReader


def _lazy_classes() -> tuple[type[Any], type[Any]]:
    """MoviePy's two readers, each as a subclass whose ffmpeg starts on its first read."""
    global _LAZY
    if _LAZY is None:
        video, audio = _reader_classes()
        _LAZY = (
            _lazy(video, "video", ("get_frame", "read_frame", "skip_frames"), _open_video),
            _lazy(audio, "audio", ("get_frame", "seek", "read_chunk", "buffer_around"), _open_audio),
        )
    return _LAZY


_LAZY: tuple[type[Any], type[Any]] | None = None


def _open_video(reader: Any) -> None:
    reader.initialize()  # what FFMPEG_VideoReader.__init__ ends with


def _open_audio(reader: Any) -> None:
    reader.initialize()  # what FFMPEG_AudioReader.__init__ ends with
    reader.buffer_around(1)


def _lazy(reader: type[Any], kind: str, reads: tuple[str, ...], open_: Callable[[Any], None]) -> type[Any]:
    """A subclass of ``reader`` that runs ``open_`` (starting ffmpeg, as a new reader does)
    before the first of its ``reads``, and pickles as its state (:func:`_reduce_reader`)."""

    def start(self: Any) -> None:
        if not self._started:
            self._started = True
            open_(self)

    def starting(read: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(read)
        def first_starts(self: Any, *args: Any) -> Any:
            start(self)
            return read(self, *args)

        return first_starts

    name = f"Lazy{'Video' if kind == 'video' else 'Audio'}Reader"
    namespace: dict[str, Any] = {
        "__module__": __name__, "__qualname__": name, "_started": False,
        "__reduce__": lambda self: _reduce_reader(self, kind),
        **{read: starting(getattr(reader, read)) for read in reads},
    }  # fmt: skip
    return type(name, (reader,), namespace)

#: Per-process state of a reader that must not travel: its process and what it has read.
_VIDEO_DROPPED = ("proc", "last_read", "_started")
_AUDIO_DROPPED = ("proc", "buffer", "_started")


def _reduce_reader(reader: Any, kind: str) -> tuple[Any, ...]:
    dropped = _VIDEO_DROPPED if kind == "video" else _AUDIO_DROPPED
    state = {k: v for k, v in vars(reader).items() if k not in dropped}
    filename = state.get("filename")
    if isinstance(filename, str | os.PathLike):
        # A worker may run elsewhere in the file system (a Dask worker's own directory).
        state["filename"] = os.path.abspath(filename)
    return (lazy_reader, (kind, state))


def lazy_reader(kind: str, state: dict[str, Any]) -> Any:
    """A reader of ``kind`` with ``state``, whose ffmpeg starts on its first read."""
    video, audio = _lazy_classes()
    cls: Any = video if kind == "video" else audio
    reader = cls.__new__(cls)
    reader.__dict__.update(state)
    reader.proc = None
    if kind == "audio":
        reader.buffer = None
        reader.buffer_startframe = 1
    return reader


# ---------------------------------------------------------------------------------------------
# Constant arrays: one pixel and a shape


def broadcast(compact: np.ndarray[Any, Any], shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """A read-only view of ``compact`` broadcast to ``shape`` (no memory of its own)."""
    return np.broadcast_to(compact, shape)


def filled(pixel: np.ndarray[Any, Any], shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """A writable array of ``shape`` holding ``pixel`` everywhere."""
    out = np.empty(shape, dtype=pixel.dtype)
    out[...] = pixel
    return out


def _pixel_index(array: np.ndarray[Any, Any]) -> tuple[int, ...]:
    # An image's pixel is its last axis (H x W x C); a mask's (H x W) a single value.
    return (0,) * (array.ndim - 1) if array.ndim >= 3 else (0,) * array.ndim


def constant_pixel(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any] | None:
    """The pixel ``array`` holds everywhere, or ``None`` when it is not constant.

    A few pixels spread over the array are compared first, so that an image (the usual large
    array) is rejected after a handful of comparisons; a candidate is then checked in full,
    block by block (no array-sized temporary).
    """
    if array.dtype.hasobject or array.size == 0:
        return None
    index = _pixel_index(array)
    pixel = np.array(array[index], dtype=array.dtype)
    lead = array.shape[: len(index)]
    if not lead:
        return None
    count = int(np.prod(lead))
    for flat in np.linspace(0, count - 1, _SAMPLES).astype(np.int64):
        if not np.array_equal(array[np.unravel_index(int(flat), lead)], pixel):
            return None
    # Every pixel equals the one before it: each block of rows, made contiguous (a view when it
    # is already), compared with itself shifted by one pixel. 3-5x faster than comparing with
    # the pixel broadcast, which walks strides.
    step = pixel.size
    first = pixel.reshape(-1)
    rows = max(1, _BLOCK_BYTES // max(1, array[0].size * array.itemsize))
    for start in range(0, array.shape[0], rows):
        flat = np.ascontiguousarray(array[start : start + rows]).reshape(-1)
        if not np.array_equal(flat[:step], first) or not np.array_equal(flat[step:], flat[:-step]):
            return None
    return pixel


def _compact(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The distinct part of a view with zero strides (its zero-stride axes cut to length 1)."""
    cut = tuple(slice(0, 1) if stride == 0 else slice(None) for stride in array.strides)
    return np.ascontiguousarray(array[cut])


# ---------------------------------------------------------------------------------------------
# The pickler


def _pickler_class() -> type[Any]:
    global _PICKLER
    if _PICKLER is None:
        import cloudpickle
        from moviepy.video.VideoClip import ColorClip

        video, audio = _reader_classes()

        class ClipPickler(cloudpickle.Pickler):  # type: ignore[misc]
            def __init__(self, file: Any) -> None:
                super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
                # Images of ColorClips seen so far: MoviePy only reads them.
                self.read_only: set[int] = set()
                self.constants = 0

            def reducer_override(self, obj: Any) -> Any:
                kind = type(obj)
                if kind is np.ndarray:
                    return self._array(obj)
                if isinstance(obj, video):
                    return _reduce_reader(obj, "video")
                if isinstance(obj, audio):
                    return _reduce_reader(obj, "audio")
                if isinstance(obj, ColorClip):
                    for image in (getattr(obj, "img", None), getattr(obj.mask, "img", None)):
                        if image is not None:
                            self.read_only.add(id(image))
                return super().reducer_override(obj)

            def _array(self, array: np.ndarray[Any, Any]) -> Any:
                if array.nbytes < CONSTANT_MIN_BYTES:
                    return NotImplemented
                if 0 in array.strides:
                    self.constants += 1
                    return (broadcast, (_compact(array), array.shape))
                pixel = constant_pixel(array)
                if pixel is None:
                    return NotImplemented
                self.constants += 1
                if id(array) in self.read_only or not array.flags.writeable:
                    return (broadcast, (pixel, array.shape))
                return (filled, (pixel, array.shape))

        _PICKLER = ClipPickler
    return _PICKLER


_PICKLER: type[Any] | None = None


def dump(clip: Any, *, compression: str | None = None) -> Payload:
    """Pickle ``clip`` with the reducers, compressed as ``compression`` says (``None``: when it
    pays, or one of :data:`COMPRESSIONS`); raise :class:`UnsendableClip` naming what cannot
    travel."""
    started = time.perf_counter()
    buffer = io.BytesIO()
    buffer.write(_MAGIC + bytes([_RAW]))
    pickler = _pickler_class()(buffer)
    try:
        pickler.dump(clip)
    except RecursionError:
        raise UnsendableClip(
            "", "nested too deeply to be pickled (Python's recursion limit)"
        ) from None
    except Exception as exc:
        found = find_unpicklable(clip)
        if found is None:
            raise UnsendableClip("", f"not picklable ({type(exc).__name__}: {exc})") from exc
        raise UnsendableClip(*found) from exc
    raw_bytes = buffer.tell() - _HEADER
    with buffer.getbuffer() as written:
        packed = None if compression == "none" else _compressed(written[_HEADER:], compression)
    data = buffer.getvalue() if packed is None else _MAGIC + bytes([_ZLIB]) + packed
    del buffer
    return Payload(
        data=data,
        raw_bytes=raw_bytes,
        compressed=packed is not None,
        dump_s=time.perf_counter() - started,
        constants=pickler.constants,
    )


def _compressed(raw: memoryview, compression: str | None) -> bytes | None:
    """``raw`` compressed: always for ``"zlib"``, else when that saves enough (a sample decides
    whether to try)."""
    if compression == "zlib":
        return zlib.compress(raw, 1)
    probe = raw[:_COMPRESS_PROBE_BYTES]
    if len(zlib.compress(probe, 1)) > (1 - COMPRESS_MIN_SAVING) * len(probe):
        return None
    packed = zlib.compress(raw, 1)
    return packed if len(packed) <= (1 - COMPRESS_MIN_SAVING) * len(raw) else None


def load(data: bytes | memoryview) -> Any:
    """The clip that :func:`dump` pickled (its readers start ffmpeg on their first read)."""
    view = memoryview(data)
    if len(view) < _HEADER or bytes(view[: len(_MAGIC)]) != _MAGIC:
        raise InvalidSource("not a renderbench clip payload")
    body = view[_HEADER:]
    if view[len(_MAGIC)] == _ZLIB:
        return pickle.loads(zlib.decompress(body))
    return pickle.loads(body)


# ---------------------------------------------------------------------------------------------
# What cannot be sent, and where it sits


_ATOMS = (
    type(None), bool, int, float, complex, str, bytes, bytearray, range, slice,
    type(Ellipsis), type(NotImplemented),
)  # fmt: skip


def find_unpicklable(obj: Any, root: str = "clip") -> tuple[str, str] | None:
    """The attribute path of the first object in ``obj`` that cannot be pickled, and why.

    Walks ``obj`` as pickle does: containers item by item, objects through ``__reduce_ex__``
    (their state's attributes), functions that cloudpickle sends by value through their
    closure (``.<closure>.name``), the globals their code uses (``.<globals>.name``) and their
    defaults. ``None`` when nothing found fails (the walk does not know every pickling rule).
    """
    import cloudpickle

    walker = _Walker(_pickler_class(), cloudpickle)
    try:
        return walker.walk(obj, root)
    except RecursionError:
        return None


class _Walker:
    def __init__(self, pickler: type[Any], cloudpickle: Any) -> None:
        self._pickler = pickler
        self._cloudpickle = cloudpickle
        self._seen: set[int] = set()
        self._keep: list[Any] = []  # reduce_ex results stay alive: their ids must stay unique
        self._readers = _reader_classes()
        self._dispatch: Any = getattr(pickler, "dispatch_table", {})

    def _by_reference(self, obj: Any) -> bool:
        check: Callable[[Any], bool] | None = getattr(
            self._cloudpickle.cloudpickle, "_should_pickle_by_reference", None
        )
        if check is None:
            return False
        try:
            return bool(check(obj))
        except Exception:
            return False

    def _alone(self, obj: Any) -> str | None:
        """Why ``obj`` cannot be pickled by itself (``None``: it can)."""
        try:
            self._pickler(io.BytesIO()).dump(obj)
        except Exception as exc:
            return str(exc)
        return None

    def walk(self, obj: Any, path: str) -> tuple[str, str] | None:
        if isinstance(obj, _ATOMS) or isinstance(obj, types.ModuleType):
            return None
        if id(obj) in self._seen:
            return None
        self._seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            if not obj.dtype.hasobject:
                return None
            return self._items(enumerate(obj.ravel().tolist()), path)
        if isinstance(obj, self._readers):
            return None
        if isinstance(obj, dict):
            return self._mapping(obj, path)
        if isinstance(obj, list | tuple | set | frozenset):
            return self._items(enumerate(obj), path)
        if isinstance(obj, types.FunctionType):
            return self._function(obj, path)
        if isinstance(obj, types.MethodType):
            return self.walk(obj.__self__, f"{path}.__self__") or self.walk(
                obj.__func__, f"{path}.__func__"
            )
        if isinstance(obj, type):
            if self._by_reference(obj):
                return None
            reason = self._alone(obj)
            return None if reason is None else (path, f"the class {obj.__qualname__} ({reason})")
        if isinstance(obj, types.BuiltinFunctionType | types.CodeType):
            reason = self._alone(obj)
            return None if reason is None else (path, f"{_describe(obj)} ({reason})")
        return self._object(obj, path)

    def _items(self, items: Iterator[tuple[int, Any]] | Any, path: str) -> tuple[str, str] | None:
        for index, item in items:
            found = self.walk(item, f"{path}[{index}]")
            if found is not None:
                return found
        return None

    def _mapping(self, mapping: dict[Any, Any], path: str) -> tuple[str, str] | None:
        for key, value in list(mapping.items()):
            found = self.walk(key, f"{path}.<key {key!r}>") or self.walk(value, f"{path}[{key!r}]")
            if found is not None:
                return found
        return None

    def _attributes(self, state: Any, path: str) -> tuple[str, str] | None:
        if isinstance(state, dict):
            for name, value in list(state.items()):
                label = f"{path}.{name}" if isinstance(name, str) else f"{path}[{name!r}]"
                found = self.walk(value, label)
                if found is not None:
                    return found
            return None
        if isinstance(state, tuple) and len(state) == 2 and all(
            s is None or isinstance(s, dict) for s in state
        ):  # (__dict__, __slots__ values)
            return self._attributes(state[0] or {}, path) or self._attributes(state[1] or {}, path)
        return self.walk(state, f"{path}.<state>")

    def _function(self, func: types.FunctionType, path: str) -> tuple[str, str] | None:
        if self._by_reference(func):
            return None
        code = func.__code__
        for name, cell in zip(code.co_freevars, func.__closure__ or (), strict=False):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            found = self.walk(value, f"{path}.<closure>.{name}")
            if found is not None:
                return found
        extract = getattr(self._cloudpickle.cloudpickle, "_extract_code_globals", None)
        names = extract(code) if extract is not None else code.co_names
        for name in names:
            if name in func.__globals__:
                found = self.walk(func.__globals__[name], f"{path}.<globals>.{name}")
                if found is not None:
                    return found
        for index, default in enumerate(func.__defaults__ or ()):
            found = self.walk(default, f"{path}.<defaults>[{index}]")
            if found is not None:
                return found
        for name, default in (func.__kwdefaults__ or {}).items():
            found = self.walk(default, f"{path}.<defaults>.{name}")
            if found is not None:
                return found
        return self._attributes(func.__dict__, path) if func.__dict__ else None

    def _object(self, obj: Any, path: str) -> tuple[str, str] | None:
        # cloudpickle's own reducers first (open files, properties, weakref sets...).
        reducer = self._dispatch.get(type(obj))
        try:
            if reducer is not None:
                reduced = reducer(obj)
            else:
                reduced = obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            return path, f"{_describe(obj)} ({exc})"
        if isinstance(reduced, str):
            return None  # a global, pickled by name
        self._keep.append(reduced)
        parts = list(reduced) + [None] * (6 - len(reduced))
        function, args, state, listitems, dictitems = parts[:5]
        found = self.walk(function, f"{path}.<reduce>")
        if found is not None:
            return found
        for index, arg in enumerate(args or ()):
            if isinstance(arg, type):
                continue  # copyreg.__newobj__'s class
            found = self.walk(arg, f"{path}.<arg {index}>")
            if found is not None:
                return found
        if state is not None:
            found = self._attributes(state, path)
            if found is not None:
                return found
        if listitems is not None:
            found = self._items(enumerate(listitems), path)
            if found is not None:
                return found
        if dictitems is not None:
            return self._mapping(dict(dictitems), path)
        return None


def _describe(obj: Any) -> str:
    kind = type(obj)
    module = kind.__module__
    name = kind.__qualname__ if module in {"builtins", None} else f"{module}.{kind.__qualname__}"
    return f"a {name}"
