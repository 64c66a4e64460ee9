"""The PIL identities the fast compositing relies on, checked on the Pillow this process runs.

MoviePy composites a layer that has alpha by pasting it onto a transparent canvas of the frame's
size and calling ``Image.alpha_composite`` on the whole frame. The fast path skips that work
where it cannot change a value, which rests on these identities of Pillow's integer formula:

- a source pixel of alpha 255 gives the source pixel, alpha 255, whatever the destination;
- a source pixel of alpha 0 gives the destination pixel unchanged (so the transparent rest of
  MoviePy's canvas changes nothing, and only the layer's own rectangle needs compositing);
- converting RGB to RGBA adds alpha 255, and RGBA to RGB drops alpha without touching colour
  (so an RGB image and an RGBA one whose alpha is 255 composite the same).

They hold for Pillow 11's scalar code; a different build (a SIMD fork computes in floating
point) might not, so they are checked once per process on every byte value, at widths that run
through any vectorised body and its scalar tail (a few milliseconds), and the fast path turns
itself off where one fails.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

_WIDTH = 263  # not a multiple of 4, 8 or 16: SIMD bodies and their scalar tails both run
_DST_ALPHAS = (0, 1, 127, 128, 254, 255)


def _values(rows: int, step: int) -> np.ndarray[tuple[int, int], np.dtype[np.uint8]]:
    """Every byte value on each row, shifted from row to row by ``step``."""
    base = (np.arange(_WIDTH)[None, :] + step * np.arange(rows)[:, None]) % 256
    return base.astype(np.uint8)


@functools.cache
def broken_identity() -> str | None:
    """The first identity this Pillow breaks, in words; None when all hold."""
    rows = 256
    for dst_alpha in _DST_ALPHAS:
        alpha = np.full((rows, _WIDTH), dst_alpha, np.uint8)
        dst = np.dstack([_values(rows, 1), _values(rows, 3), _values(rows, 7), alpha])
        colours = [_values(rows, 5), _values(rows, 11), _values(rows, 13)]
        for src_alpha in (0, 255):
            src = np.dstack([*colours, np.full((rows, _WIDTH), src_alpha, np.uint8)])
            out = np.asarray(Image.alpha_composite(Image.fromarray(dst), Image.fromarray(src)))
            expected = src if src_alpha == 255 else dst
            if not np.array_equal(out, expected):
                return (
                    f"this Pillow's alpha_composite of a source with alpha {src_alpha} over "
                    f"alpha {dst_alpha} does not give the "
                    f"{'source' if src_alpha == 255 else 'destination'} pixel"
                )
    rgb = np.dstack([_values(rows, 1), _values(rows, 2), _values(rows, 3)])
    rgba = np.asarray(Image.fromarray(rgb).convert("RGBA"))
    if not (np.array_equal(rgba[..., :3], rgb) and (rgba[..., 3] == 255).all()):
        return "this Pillow's RGB to RGBA conversion does not add alpha 255"
    src = np.dstack([rgb, _values(rows, 9)])
    if not np.array_equal(np.asarray(Image.fromarray(src).convert("RGB")), rgb):
        return "this Pillow's RGBA to RGB conversion changes colours"
    return None
