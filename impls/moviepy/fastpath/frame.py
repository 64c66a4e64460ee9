"""A frame as a MoviePy clip returns it, kept in whichever form was cheapest to make.

MoviePy passes NumPy arrays from clip to clip and turns them into PIL images and back at every
step (``Image.fromarray``, ``np.array``), and computes full-size constant images (a ColorClip,
a mask of ones and the fades of it) value by value. A :class:`Frame` holds the values of the
array MoviePy would return, as one of

- an array (any strides: a view, a broadcast),
- a PIL image (what ``Image.fromarray`` of that array gives, made the other way round),
- a constant: one pixel and a shape,
- a deferred image: made (whole, or only the part a compositor asks for) when first needed,

and converts to the other forms on demand, once (each conversion is kept on the Frame). A
frame is never changed after it is made: whoever wants to draw into one copies it first.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np
from PIL import Image

Array = np.ndarray[Any, np.dtype[Any]]

#: PIL modes of the uint8 arrays MoviePy composites, by channel count (0: a 2-D array).
_MODES = {0: "L", 3: "RGB", 4: "RGBA"}
_CHANNELS = {mode: channels for channels, mode in _MODES.items()}

T = TypeVar("T")


class Frame:
    """The values of one frame. ``still`` frames (an ImageClip's image) live as long as their
    clip, so what is derived from them (:meth:`derived`) is kept for the next frame too."""

    __slots__ = (
        "shape", "dtype", "still", "_array", "_image", "_pixel", "_scan", "_derived", "_make",
        "_part",
    )  # fmt: skip

    def __init__(
        self,
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        *,
        array: Array | None = None,
        image: Image.Image | None = None,
        pixel: Array | None = None,
        still: bool = False,
    ) -> None:
        self.shape = shape
        self.dtype = dtype
        self.still = still
        self._array = array
        self._image = image
        self._pixel = pixel
        # A still image is scanned once for being one colour (a ColorClip MoviePy built at
        # full size, a with_opacity mask): cheaper than computing with it on every frame.
        self._scan = still and pixel is None and array is not None
        self._derived: dict[Hashable, Any] | None = None
        self._make: Callable[[], Image.Image] | None = None
        self._part: Callable[[tuple[int, int, int, int]], Image.Image | None] | None = None

    # -----------------------------------------------------------------------------------------
    # Making frames

    @classmethod
    def of_array(cls, array: Array, *, still: bool = False) -> Frame:
        return cls(array.shape, array.dtype, array=array, pixel=_broadcast_pixel(array), still=still)

    @classmethod
    def of_image(cls, image: Image.Image) -> Frame:
        """A uint8 frame held as a PIL image of mode L, RGB or RGBA."""
        channels = _CHANNELS[image.mode]
        width, height = image.size
        shape = (height, width) if channels == 0 else (height, width, channels)
        return cls(shape, np.dtype(np.uint8), image=image)

    @classmethod
    def deferred(
        cls,
        shape: tuple[int, ...],
        make: Callable[[], Image.Image],
        part: Callable[[tuple[int, int, int, int]], Image.Image | None],
    ) -> Frame:
        """A uint8 image made by ``make()`` when it is first needed; when only a part of it is
        (:meth:`crop`), ``part(box)`` makes that part alone, or returns None to have it cut
        from the whole image."""
        frame = cls(shape, np.dtype(np.uint8))
        frame._make, frame._part = make, part
        return frame

    @classmethod
    def filled(cls, pixel: Array, shape: tuple[int, ...], *, still: bool = False) -> Frame:
        """Every pixel equal to ``pixel`` (whose shape is ``shape[2:]``)."""
        pixel = np.array(pixel)  # a private copy: the caller's array may change later
        return cls(shape, pixel.dtype, pixel=pixel, still=still)

    # -----------------------------------------------------------------------------------------
    # Reading frames

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def channels(self) -> int:
        """Channels of a 3-D frame; 0 for a 2-D one."""
        return self.shape[2] if len(self.shape) == 3 else 0

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as PIL and MoviePy say it."""
        return self.shape[1], self.shape[0]

    def pixel(self) -> Array | None:
        """The one value of a constant frame, else None."""
        if self._scan:
            self._scan = False
            assert self._array is not None
            self._pixel = _uniform_pixel(self._array)
        return self._pixel

    def array(self) -> Array:
        """The values as an array (read-only when it is a view of an image or a constant)."""
        if self._array is None and self._make is not None:
            self.image()
        if self._array is None:
            if self._image is not None:
                self._array = np.asarray(self._image)
            else:
                assert self._pixel is not None
                self._array = np.broadcast_to(self._pixel, self.shape)
        return self._array

    def image(self) -> Image.Image:
        """``Image.fromarray`` of the values (the same image; never to be drawn into)."""
        if self._image is None and self._make is not None:
            self._image, self._make, self._part = self._make(), None, None
        if self._image is None:
            pixel = self.pixel()
            mode = _MODES.get(self.channels) if self.dtype == np.uint8 else None
            if pixel is not None and mode is not None and self.ndim in (2, 3):
                color = int(pixel) if self.ndim == 2 else tuple(int(v) for v in pixel)
                self._image = Image.new(mode, self.size, color)
            else:
                self._image = Image.fromarray(self.array())
        return self._image

    def derived(self, key: Hashable, make: Callable[[], T], *, keep: bool = False) -> T:
        """``make()``, kept on a still frame for the frames after this one (on any frame with
        ``keep``: for what the same frame is asked for again)."""
        if not (self.still or keep):
            return make()
        if self._derived is None:
            self._derived = {}
        if key not in self._derived:
            self._derived[key] = make()
        value: T = self._derived[key]
        return value

    # -----------------------------------------------------------------------------------------
    # Computing with frames (each gives a new frame)

    def astype(self, dtype: str | type[Any]) -> Frame:
        """``array.astype(dtype)``: the frame itself when it already has that dtype."""
        target = np.dtype(dtype)
        if self.dtype == target:
            return self
        return self.derived(("astype", target), lambda: self._astype(target))

    def _astype(self, target: np.dtype[Any]) -> Frame:
        pixel = self.pixel()
        if pixel is not None:
            return Frame.filled(pixel.astype(target), self.shape, still=self.still)
        return Frame.of_array(self.array().astype(target), still=self.still)

    def map(self, fn: Callable[[Array], Any], key: Hashable = None) -> Frame:
        """``fn(array)`` for an ``fn`` that works on each value alone (NumPy broadcasting).

        On a constant frame ``fn`` sees a 1x1 array: NumPy computes each element of an
        elementwise operation the same way whatever the array's size, so the one pixel it
        returns is every pixel of the full-size result. ``key`` names ``fn`` for keeping its
        result on a still frame.
        """
        if key is not None:
            return self.derived(("map", key), lambda: self._map(fn))
        return self._map(fn)

    def _map(self, fn: Callable[[Array], Any]) -> Frame:
        pixel = self.pixel()
        if pixel is not None:
            small = np.broadcast_to(pixel, (1, 1, *pixel.shape))
            out = fn(small)
            if isinstance(out, np.ndarray) and out.shape[:2] == (1, 1):
                return Frame.filled(out[0, 0], self.shape[:2] + out.shape[2:], still=self.still)
        return Frame.of_array(np.asarray(fn(self.array())), still=self.still)

    def crop(self, box: tuple[int, int, int, int]) -> Frame:
        """The part ``box`` = (left, top, right, bottom) of the frame, which lies inside it."""
        left, top, right, bottom = box
        if box == (0, 0, self.shape[1], self.shape[0]):
            return self
        pixel = self.pixel()
        if pixel is not None:
            return Frame.filled(pixel, (bottom - top, right - left, *self.shape[2:]))
        if self._part is not None:
            part = self._part
            made = self.derived(("part", box), lambda: part(box), keep=True)
            if made is not None:
                return Frame.of_image(made)
            self.image()
        if self._image is not None:
            return Frame.of_image(self._image.crop(box))
        return Frame.of_array(self.array()[top:bottom, left:right])

    def rgb(self) -> Frame:
        """The first three channels of an RGBA frame (what MoviePy's ``frame[:, :, :3]`` keeps);
        any other frame itself."""
        if self.channels != 4:
            return self
        pixel = self.pixel()
        if pixel is not None:
            return Frame.filled(pixel[:3], (*self.shape[:2], 3), still=self.still)
        if self._image is not None:
            return Frame.of_image(self._image.convert("RGB"))
        return Frame.of_array(self.array()[:, :, :3], still=self.still)

    def channel(self, index: int) -> Frame:
        """One channel of a 3-D frame, as a 2-D frame."""
        pixel = self.pixel()
        if pixel is not None:
            return Frame.filled(pixel[index], self.shape[:2], still=self.still)
        if self._image is not None and self._image.mode == "RGBA" and index == 3:
            return Frame.of_image(self._image.getchannel("A"))
        return Frame.of_array(self.array()[:, :, index], still=self.still)


def _broadcast_pixel(array: Array) -> Array | None:
    """The pixel an array repeats when it is a broadcast of one (zero strides on both axes)."""
    if array.ndim >= 2 and array.shape[0] and array.shape[1]:
        if array.strides[0] == 0 and array.strides[1] == 0:
            return np.array(array[0, 0])
    return None


def _uniform_pixel(array: Array) -> Array | None:
    """The pixel every pixel of ``array`` equals bit for bit (0.0 and -0.0 differ), else None."""
    if array.ndim < 2 or not array.shape[0] or not array.shape[1]:
        return None
    if array.dtype.kind not in "biuf" or array.dtype.itemsize not in (1, 2, 4, 8):
        return None
    bits = array.view(np.dtype(f"u{array.dtype.itemsize}")) if array.dtype.kind == "f" else array
    first = bits[0, 0]
    # The first row rejects a photo at once; only a uniform-looking one is scanned whole.
    if not np.array_equal(bits[0], np.broadcast_to(first, bits[0].shape)):
        return None
    if not np.array_equal(bits, np.broadcast_to(first, bits.shape)):
        return None
    return np.array(array[0, 0])
