"""``CompositeVideoClip``'s frames with MoviePy's pixels, leaving out the work that cannot show.

MoviePy's ``frame_function`` turns the background into a PIL image (RGBA when it has a mask:
the transparent black of a composite without ``bg_color``), then for each playing clip
(``compose_on``) converts its frame to uint8, its mask to an alpha band, and either pastes it
(neither image has alpha) or pastes it onto a transparent canvas of the frame's size and calls
``Image.alpha_composite`` on the whole frame. Per pixel that is Pillow's formula on (layer
pixel, canvas pixel), and by :mod:`impls.moviepy.fastpath.identities` a layer pixel of alpha
255 gives the layer pixel and one of alpha 0 gives the canvas pixel. So, with the same pixels:

- a layer whose visible part is opaque (no mask, or a mask of ones: most layers) is pasted, and
  one that covers the whole frame replaces the canvas without a copy;
- a layer that is transparent where it shows (a fade at 0) changes nothing;
- only a partly transparent layer is alpha-composited, and only over its own rectangle;
- when every layer is pure (:mod:`impls.moviepy.fastpath.nodes`), layers are evaluated from the
  top and those under a layer that covers the frame opaquely are not evaluated at all, nor is
  the background drawn;
- constant images (backgrounds, masks of ones and their fades) stay one pixel until a layer
  needs them drawn.

The mask of a composite (``is_mask=True``: ``compose_mask``, floating point) is computed the
same way: a constant mask blended with a constant layer stays a constant, computed on one
pixel; anything else runs MoviePy's own statement on the arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from moviepy.tools import compute_position
from PIL import Image

from impls.moviepy.fastpath.frame import Array, Frame
from impls.moviepy.fastpath.nodes import Node, Unsupported

Box = tuple[int, int, int, int]


def times_255(values: Array) -> Any:
    """``mask * 255``, as ``compose_on`` scales a mask to an alpha band."""
    return values * 255


class Entry:
    """One clip of a composite: its node and its mask's."""

    def __init__(self, order: int, node: Node, mask: Node | None) -> None:
        self.order = order
        self.node = node
        self.mask = mask
        self.pure = node.pure and (mask is None or mask.pure)


class Composite(Node):
    """A ``CompositeVideoClip`` that is not a mask."""

    speeds_up = True

    def __init__(
        self, clip: Any, background: Node, background_mask: Node | None, entries: dict[int, Entry]
    ) -> None:
        children = [background] + ([background_mask] if background_mask else [])
        for entry in entries.values():
            children += [entry.node] + ([entry.mask] if entry.mask else [])
        super().__init__(clip, children)
        self.background = background
        self.background_mask = background_mask
        self.entries = entries

    def frame(self, t: Any) -> Frame:
        try:
            return self._frame(t)
        except Unsupported:
            return self.moviepy_frame(t)

    def key(self, t: Any, out: list[Any]) -> None:
        playing = self.clip.playing_clips(t)
        out.append(("layers", tuple(self.entries[id(c)].order for c in playing)))
        for child in playing:
            entry = self.entries[id(child)]
            ct = t - child.start
            entry.node.key(ct, out)
            if entry.mask is not None:
                entry.mask.key(ct, out)

    def _frame(self, t: Any) -> Frame:
        playing = self.clip.playing_clips(t)
        entries = [self.entries.get(id(child)) for child in playing]
        if any(entry is None for entry in entries):
            raise Unsupported("the composite's clips changed after it was planned")
        # The background first, as MoviePy does; an image costs nothing until it is drawn.
        image, mask = self._background(t)
        size = image.size
        # Pure layers are evaluated from the top down to the first that hides the rest; any
        # other code runs in MoviePy's order, every layer (its side effects may matter).
        lazy = all(entry.pure for entry in entries if entry is not None)
        layers: list[_Layer | None] = [None] * len(playing)
        for k in reversed(range(len(playing))) if lazy else range(len(playing)):
            entry = entries[k]
            assert entry is not None
            made = layers[k] = _layer(entry, playing[k], t, size)
            if lazy and made.covers:
                break
        start = next((k for k in reversed(range(len(layers))) if _covers(layers[k])), None)
        canvas = _Canvas(size) if start is not None else _Canvas.background(image, mask)
        for layer in layers[start or 0 :]:
            assert layer is not None
            canvas.add(layer)
        return canvas.result()

    def _background(self, t: Any) -> tuple[Frame, Frame | None]:
        """The background's frame (uint8) and its mask as an alpha band (``frame_function``)."""
        background = self.clip.bg
        image = self.background.frame(t - background.start).astype(np.uint8)
        if image.ndim != 3 or image.channels not in (3, 4):
            raise Unsupported(f"a background frame of shape {image.shape}")
        if self.background_mask is None:
            return image, None
        mask = self.background_mask.frame(t - background.mask.start)
        alpha = mask.map(times_255, key=times_255).astype(np.uint8)
        if alpha.ndim != 2:
            raise Unsupported(f"a background mask of shape {alpha.shape}")
        if alpha.shape != image.shape[:2]:
            alpha = _fit(alpha, *image.shape[:2])
        return image, alpha


def _covers(layer: _Layer | None) -> bool:
    return layer is not None and layer.covers


class _Layer:
    """One playing clip, ready to composite: ``frame`` (uint8, RGB or RGBA), ``alpha`` (its mask
    as an alpha band, fitted to the frame) and where it lands on the canvas."""

    __slots__ = ("frame", "alpha", "box", "source_box", "coverage", "full")

    def __init__(
        self, frame: Frame, alpha: Frame | None, pos: tuple[int, int], size: tuple[int, int]
    ) -> None:
        self.frame = frame
        self.alpha = alpha
        x, y = pos
        width, height = frame.size
        left, top = max(x, 0), max(y, 0)
        right, bottom = min(x + width, size[0]), min(y + height, size[1])
        self.full = False
        if left >= right or top >= bottom:
            self.box: Box | None = None  # nothing of it shows
            self.source_box: Box = (0, 0, 0, 0)
            self.coverage = "clear"
            return
        self.box = (left, top, right, bottom)
        self.source_box = (left - x, top - y, right - x, bottom - y)
        self.full = self.box == (0, 0, size[0], size[1])
        self.coverage = _coverage(alpha, self.source_box)

    @property
    def covers(self) -> bool:
        """Whether it hides everything under it."""
        return self.full and self.coverage == "opaque"

    def region(self) -> Frame:
        """What shows of an opaque layer, as RGB (its alpha is 255 there, which an RGB image
        stands for)."""
        return self.frame.crop(self.source_box).rgb()

    def rgba_region(self) -> Image.Image:
        """What shows of the layer as RGBA with its alpha, as ``compose_on`` builds it."""
        image = self.frame.crop(self.source_box).image().convert("RGBA")  # a copy, also of RGBA
        if self.alpha is not None:
            alpha = self.alpha.crop(self.source_box)
            pixel = alpha.pixel()
            image.putalpha(int(pixel) if pixel is not None else alpha.image())
        return image


def _coverage(alpha: Frame | None, box: Box) -> str:
    """'opaque', 'clear' or 'partial': the alpha of a layer over the part of it that shows."""
    if alpha is None:
        return "opaque"

    def measure() -> str:
        part = alpha.crop(box)
        pixel = part.pixel()
        if pixel is not None:
            return "opaque" if pixel == 255 else "clear" if pixel == 0 else "partial"
        values = part.array()
        if (values == 255).all():
            return "opaque"
        return "clear" if not values.any() else "partial"

    return alpha.derived(("coverage", box), measure)


def _constant_composite(canvas: Frame, layer: _Layer) -> Any:
    """The one pixel of a constant layer with constant alpha over a constant canvas (Pillow's
    formula is per pixel: its result on one pixel is its result everywhere); None when the
    layer or its alpha varies."""
    region = layer.frame.crop(layer.source_box)
    colour, under = region.pixel(), canvas.pixel()
    alpha = layer.alpha.crop(layer.source_box).pixel() if layer.alpha is not None else None
    if colour is None or under is None or (layer.alpha is not None and alpha is None):
        return None
    below = Image.new(_RGB_MODES[canvas.channels], (1, 1), tuple(int(v) for v in under))
    above = Image.new(_RGB_MODES[region.channels], (1, 1), tuple(int(v) for v in colour))
    below, above = below.convert("RGBA"), above.convert("RGBA")
    if alpha is not None:
        above.putalpha(int(alpha))
    return np.asarray(Image.alpha_composite(below, above))[0, 0]


_RGB_MODES = {3: "RGB", 4: "RGBA"}


def _fit(mask: Frame, height: int, width: int) -> Frame:
    """A mask cropped or padded with 0 to the frame's size, top-left aligned (as compose_on
    does with ``crop`` or ``Image.new`` and ``paste``)."""
    pixel = mask.pixel()
    if pixel is not None and mask.shape[0] >= height and mask.shape[1] >= width:
        return Frame.filled(pixel, (height, width))
    out = np.zeros((height, width), dtype=np.uint8)
    rows, cols = min(height, mask.shape[0]), min(width, mask.shape[1])
    out[:rows, :cols] = mask.array()[:rows, :cols]
    return Frame.of_array(out)


def _layer(entry: Entry, child: Any, t: Any, size: tuple[int, int]) -> _Layer:
    """``compose_on``'s preparation of one clip: frame, mask, position (in that order)."""
    ct = t - child.start
    frame = entry.node.frame(ct).astype(np.uint8)
    if frame.ndim != 3 or frame.channels not in (3, 4):
        raise Unsupported(f"a layer frame of shape {frame.shape}")
    alpha = None
    if entry.mask is not None:
        alpha = entry.mask.frame(ct).map(times_255, key=times_255).astype(np.uint8)
        if alpha.ndim != 2:
            raise Unsupported(f"a mask frame of shape {alpha.shape}")
        if alpha.shape != frame.shape[:2]:
            alpha = _fit(alpha, *frame.shape[:2])
    elif frame.channels == 4:
        alpha = frame.channel(3)
    pos = compute_position(frame.size, size, child.pos(ct), child.relative_pos)
    return _Layer(frame, alpha, (int(pos[0]), int(pos[1])), size)


class _Canvas:
    """The image ``frame_function`` composites onto, made only as far as a layer needs it.

    ``frame`` is uint8 RGB or RGBA of the canvas's size. An RGB canvas stands for MoviePy's
    image wherever that is RGB, or RGBA with alpha 255 (the two composite alike).
    """

    def __init__(self, size: tuple[int, int], frame: Frame | None = None) -> None:
        self.size = size
        self.frame = frame
        self.owned = False  # whether frame's image is ours to draw into

    @classmethod
    def background(cls, image: Frame, mask: Frame | None) -> _Canvas:
        if mask is None:
            return cls(image.size, image)
        pixel, alpha = image.pixel(), mask.pixel()
        if pixel is not None and alpha is not None:
            rgba = np.concatenate([pixel[:3], np.array([alpha], dtype=np.uint8)])
            return cls(image.size, Frame.filled(rgba, (*image.shape[:2], 4)))
        canvas = image.image().convert("RGBA")
        canvas.putalpha(int(alpha) if alpha is not None else mask.image())
        result = cls(image.size, Frame.of_image(canvas))
        result.owned = True
        return result

    def _drawable(self, rgba: bool) -> Image.Image:
        assert self.frame is not None
        image = self.frame.image()
        if rgba and image.mode != "RGBA":
            image = image.convert("RGBA")
        elif not self.owned:
            image = image.copy()
        self.owned = True
        return image

    def add(self, layer: _Layer) -> None:
        if layer.box is None or layer.coverage == "clear":
            return
        if layer.coverage == "opaque":
            region = layer.region()
            if layer.full or self.frame is None:
                self.frame, self.owned = region, False
                return
            image = self._drawable(rgba=False)
            image.paste(region.image(), layer.box[:2])  # RGB onto RGBA: PIL adds alpha 255
            self.frame = Frame.of_image(image)
            return
        assert self.frame is not None
        if layer.full and self.frame.pixel() is not None:
            pixel = _constant_composite(self.frame, layer)
            if pixel is not None:
                self.frame, self.owned = Frame.filled(pixel, (*self.frame.shape[:2], 4)), False
                return
        under = self.frame.crop(layer.box).image()
        if under.mode != "RGBA":
            under = under.convert("RGBA")
        out = Image.alpha_composite(under, layer.rgba_region())
        if layer.full:
            self.frame, self.owned = Frame.of_image(out), True
            return
        image = self._drawable(rgba=True)
        image.paste(out, layer.box[:2])
        self.frame = Frame.of_image(image)

    def result(self) -> Frame:
        """The composite's frame: RGB (``frame[:, :, :3]`` of an RGBA image)."""
        assert self.frame is not None
        return self.frame.rgb()


class MaskComposite(Node):
    """A ``CompositeVideoClip`` that is a mask: ``compose_mask`` of each playing clip, in order."""

    speeds_up = True

    def __init__(self, clip: Any, entries: dict[int, Entry]) -> None:
        super().__init__(clip, [entry.node for entry in entries.values()])
        self.entries = entries

    frame = Composite.frame
    key = Composite.key

    def _frame(self, t: Any) -> Frame:
        width, height = self.clip.size
        mask = Frame.filled(np.zeros((), dtype=float), (height, width))
        for child in self.clip.playing_clips(t):
            entry = self.entries.get(id(child))
            if entry is None:
                raise Unsupported("the composite's clips changed after it was planned")
            mask = _blend(mask, entry.node, child, t)
        return mask


def _blend(mask: Frame, node: Node, child: Any, t: Any) -> Frame:
    """``child.compose_mask(mask, t)``: the same slices, the same arithmetic."""
    ct = t - child.start
    clip_mask = node.frame(ct).astype(float)
    if mask.ndim != 2 or clip_mask.ndim != 2:
        raise Unsupported(f"a mask frame of shape {clip_mask.shape}")
    bg_h, bg_w = mask.shape
    clip_h, clip_w = clip_mask.shape
    pos = compute_position((clip_w, clip_h), (bg_w, bg_h), child.pos(ct), child.relative_pos)
    # MoviePy's bounds, verbatim (a clip entirely off the frame gives slices whose negative
    # ends count from the far side, and that is what MoviePy then computes).
    x_start = int(max(pos[0], 0))
    x_end = int(min(pos[0] + clip_w, bg_w))
    y_start = int(max(pos[1], 0))
    y_end = int(min(pos[1] + clip_h, bg_h))
    clip_x_start = int(max(0, -pos[0]))
    clip_x_end = int(clip_x_start + min((x_end - x_start), (clip_w - clip_x_start)))
    clip_y_start = int(max(0, -pos[1]))
    clip_y_end = int(clip_y_start + min((y_end - y_start), (clip_h - clip_y_start)))
    rows, cols = range(bg_h)[y_start:y_end], range(bg_w)[x_start:x_end]
    clip_rows = range(clip_h)[clip_y_start:clip_y_end]
    clip_cols = range(clip_w)[clip_x_start:clip_x_end]
    base = mask.pixel()
    whole = rows == range(bg_h) and cols == range(bg_w) and bg_h and bg_w
    if base is not None and whole and (len(clip_rows), len(clip_cols)) == (bg_h, bg_w):
        # The whole mask, from a constant: bg + clip * (1 - bg) needs no full-size bg.
        part = clip_mask.crop((clip_x_start, clip_y_start, clip_x_end, clip_y_end))
        under = np.full((1, 1), base)
        pixel = part.pixel()
        if pixel is not None:
            over = np.full((1, 1), pixel)
            return Frame.filled((under + over * (1 - under))[0, 0], (bg_h, bg_w))
        return Frame.of_array(under + part.array() * (1 - under))
    out = np.array(mask.array(), dtype=float)  # MoviePy's mask is a full array it writes into
    source = clip_mask.array()
    out[y_start:y_end, x_start:x_end] = out[y_start:y_end, x_start:x_end] + source[
        clip_y_start:clip_y_end, clip_x_start:clip_x_end
    ] * (1 - out[y_start:y_end, x_start:x_end])
    return Frame.of_array(out)
