"""ColorClips that hold one pixel, not a frame of them, in the processes that compute frames.

MoviePy's ``ColorClip`` stores its colour as a full image (``np.tile``), and it makes many of
them: every ``CompositeVideoClip`` builds one as its background (RGBA int64 when the composite
is transparent: 66 MB at 1080p, plus a float64 mask of 16.6 MB), its mask composite another,
and ``with_mask()`` one per clip without a mask. Such constant images are most of what a
process holds once the 1080p slideshow workload is built (the README has the figures), and
each worker would hold a copy.

Inside :func:`lean_color_clips`, a new ColorClip is built by MoviePy at one pixel (so MoviePy
validates the colour and picks the dtype) and then widened to its size as a read-only
zero-stride view of that pixel: same shape, dtype and values, no memory. MoviePy only ever
reads these images (it composites from copies: ``astype``, ``* 255``), so frames are unchanged;
code that wrote into a ColorClip's image in place would now get NumPy's read-only error.

Used while a worker builds its clip from the factory (:func:`impls.moviepy.worker.clip_for`) and
while the parallel renderers build the caller's copy (for its size, duration and audio). Only
the thread inside the block gets lean clips: other threads of the process (the user's, a Dask
worker's other tasks) build MoviePy's own, and the baseline (MoviePy as-is) is never touched.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

_lock = threading.Lock()
_open = 0  # blocks open in all threads: the class stays patched while any is
_original: Any = None  # MoviePy's ColorClip.__init__, kept once seen (a late caller may need it)
_here = threading.local()  # blocks open in this thread


def _widen(clip: Any, width: int, height: int) -> None:
    """Turn a one-pixel ImageClip into a ``width`` x ``height`` view of that pixel.

    Mirrors what ``ImageClip.__init__`` derives from its image: ``img``, ``size`` and the
    ``frame_function`` that returns it.
    """
    pixel = np.array(clip.img[0, 0])  # a copy, so the view pins no larger array
    full = np.broadcast_to(pixel, (height, width, *pixel.shape))
    clip.img = full
    clip.size = full.shape[:2][::-1]  # as ImageClip sets it (Python ints)
    clip.frame_function = lambda t: full


def _lean_init(
    self: Any, size: Any, color: Any = None, is_mask: bool = False, duration: Any = None
) -> None:
    if not getattr(_here, "depth", 0):  # another thread's clip (the caller's, say): MoviePy's own
        _original(self, size, color=color, is_mask=is_mask, duration=duration)
        return
    width, height = size
    _original(self, (1, 1), color=color, is_mask=is_mask, duration=duration)
    _widen(self, width, height)
    # An RGBA colour: ImageClip split its alpha into a mask clip, one pixel too.
    if self.mask is not None and getattr(self.mask, "img", None) is not None:
        _widen(self.mask, width, height)


@contextlib.contextmanager
def lean_color_clips() -> Iterator[None]:
    """ColorClips this thread builds in this block hold one pixel; other threads' do not."""
    global _open, _original
    from moviepy.video.VideoClip import ColorClip

    with _lock:
        if _open == 0:
            if _original is None:
                _original = ColorClip.__init__
            ColorClip.__init__ = _lean_init
        _open += 1
    _here.depth = getattr(_here, "depth", 0) + 1
    try:
        yield
    finally:
        _here.depth -= 1
        with _lock:
            _open -= 1
            if _open == 0:
                ColorClip.__init__ = _original
