"""``vfx.Resize`` (``clip.resized``): PIL's LANCZOS resize, as ``Resize.resizer`` calls it.

``resizer`` converts the frame to uint8 (a copy even when it is uint8 already), makes a PIL
image of it, resizes, and copies the result back into an array. Here the frame is converted
only when it is not uint8, an image's PIL copy is made once for the render, the resized image
stays a PIL image for the compositor, and:

- the resize is made when the compositor asks for it, and only the part it asks for: the part
  of a frame that shows (a Ken Burns zoom shows only the middle of its resized image). PIL
  resizes in two passes, rows then columns, each output value of a pass depending on one row
  (column) of its input only, with weights that depend on the sizes alone; so the visible part
  is the row pass of the source rows the column pass reads, then the column pass of the
  visible columns alone, each run by PIL as a resize that needs only that pass (same weights,
  same rounding). L and RGB only: PIL resizes RGBA premultiplied, in one round trip for both
  passes;
- resizing an image (an ImageClip's, which does not change) to a size it was resized to on a
  recent frame returns that result again;
- a constant frame resizes to the same constant, computed on one pixel. PIL's LANCZOS weights
  are rounded to integers of 22 fractional bits whose sum differs from 2**22 by at most half the
  number of taps, so a constant c comes out as c + floor((2**21 + c * error) / 2**22) = c as
  long as |255 * error| < 2**21: for any resize that shrinks less than 2000 times, the limit
  kept here (2 * ceil(3 * 2000) + 1 taps: an error of at most 6001 / 2, and 255 * 6001 / 2 is
  well under 2**21). Mode-specific steps (RGBA is resized premultiplied) are left to PIL, which
  resizes a one-pixel image of the same mode and colour.
"""

from __future__ import annotations

import collections
import functools
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from impls.moviepy.fastpath.composite import times_255
from impls.moviepy.fastpath.frame import Array, Frame
from impls.moviepy.fastpath.nodes import Node, Unsupported

#: Resized images kept per node: a zoom that holds its size over a few frames hits them.
_KEPT = 2
#: Beyond this shrink factor the constant-frame shortcut is not proven (see above).
_MAX_SHRINK = 2000
_MODES = {0: "L", 3: "RGB", 4: "RGBA"}


def _over_255(values: Array) -> Any:
    return values / 255.0


def _one_times_over_255(values: Array) -> Any:
    return 1.0 * values / 255.0


class Resized(Node):
    """One ``Resize`` effect's filter. ``size(t)`` is the size ``resizer`` gets (the effect's
    ``get_new_size(t)``, or its fixed ``new_size``); ``mask``: the filter of a mask clip, which
    scales to 0-255 and back; ``fixed``: the fixed-size filter, whose mask variant scales back
    with ``1.0 * x / 255.0``."""

    speeds_up = True

    def __init__(
        self, clip: Any, inner: Node, size: Callable[[Any], Any], *, mask: bool, fixed: bool
    ) -> None:
        super().__init__(clip, [inner])
        self.inner = inner
        self.size = size
        self.mask = mask
        self.fixed = fixed
        self._lock = threading.Lock()
        self._kept: collections.OrderedDict[tuple[int, int, int], tuple[Frame, Frame]] = (
            collections.OrderedDict()
        )

    def frame(self, t: Any) -> Frame:
        source = self.inner.frame(t)  # before the size, as the filter's arguments are evaluated
        if self.mask:
            picture = source.map(times_255, key=times_255).astype(np.uint8)
        else:
            picture = source.astype(np.uint8)
        width, height = map(int, self.size(t))
        out = self._resize(picture, width, height)
        if self.mask:
            return out.map(_one_times_over_255 if self.fixed else _over_255)
        return out

    def _resize(self, picture: Frame, width: int, height: int) -> Frame:
        mode = _MODES.get(picture.channels) if picture.ndim in (2, 3) else None
        if width <= 0 or height <= 0 or mode is None:
            raise Unsupported(f"resize of a {picture.shape} frame to {width}x{height}")
        pixel = picture.pixel()
        shrink = max(picture.size[0] / width, picture.size[1] / height)
        if pixel is not None and shrink < _MAX_SHRINK:
            color = int(pixel) if picture.ndim == 2 else tuple(int(v) for v in pixel)
            resized = _resized_pixel(mode, color)
            return Frame.filled(resized, (height, width, *picture.shape[2:]))
        shape = (height, width, *picture.shape[2:])
        if not picture.still:
            return _deferred(picture.image(), shape)
        key = (id(picture), width, height)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept[0] is picture:
                self._kept.move_to_end(key)
                return kept[1]
        out = _deferred(picture.image(), shape)
        with self._lock:
            self._kept[key] = (picture, out)  # the picture kept too, so its id stays its own
            while len(self._kept) > _KEPT:
                self._kept.popitem(last=False)
        return out


def _deferred(source: Image.Image, shape: tuple[int, ...]) -> Frame:
    """``source.resize`` to ``shape`` (LANCZOS), made whole or in part when asked for."""
    size = (shape[1], shape[0])

    def whole() -> Image.Image:
        return source.resize(size, Image.Resampling.LANCZOS)

    def part(box: tuple[int, int, int, int]) -> Image.Image | None:
        return _part(source, size, box)

    return Frame.deferred(shape, whole, part)


#: A part is made alone only when it leaves out at least this much of the image (below that
#: the crops it takes cost more than the passes save).
_MIN_LEFT_OUT = 0.1


def _part(
    source: Image.Image, size: tuple[int, int], box: tuple[int, int, int, int]
) -> Image.Image | None:
    """``source.resize(size, LANCZOS).crop(box)``, computing only ``box``; None where that is
    not done (see the module's docstring)."""
    in_width, in_height = source.size
    width, height = size
    left, top, right, bottom = box
    if source.mode not in ("L", "RGB") or width == in_width or height == in_height:
        return None
    if (right - left) * (bottom - top) > (1 - _MIN_LEFT_OUT) * width * height:
        return None
    # Source rows the column pass reads for output rows top..bottom: PIL's window is centred
    # at (y + 0.5) * scale, 3 * max(scale, 1) wide on each side, rounded; one more row each
    # way covers the rounding (extra rows are computed, never used).
    scale = in_height / height
    support = 3.0 * max(scale, 1.0)
    first = max(0, math.floor(top * scale - support) - 1)
    last = min(in_height, math.ceil(bottom * scale + support) + 1)
    rows = source.crop((0, first, in_width, last)).resize((width, last - first), _LANCZOS)
    # The visible columns, with those rows where the column pass reads them (the rest of the
    # height is zeros no visible row reads).
    columns = rows.crop((left, -first, right, in_height - first))
    return columns.resize((right - left, height), _LANCZOS).crop((0, top, right - left, bottom))


_LANCZOS = Image.Resampling.LANCZOS


@functools.cache
def _resized_pixel(mode: str, color: int | tuple[int, ...]) -> Array:
    """The colour a constant image of ``mode`` and ``color`` has after a LANCZOS resize."""
    image = Image.new(mode, (1, 1), color).resize((2, 2), Image.Resampling.LANCZOS)
    return np.array(np.asarray(image)[0, 0])

