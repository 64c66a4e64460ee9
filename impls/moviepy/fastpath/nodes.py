"""The clip tree as the fast path evaluates it: one node per clip, each giving the frame that
``clip.get_frame(t)`` gives.

A node's contract is MoviePy's: same values, same dtype, same shape, for every ``t``, calling
the user's functions (frame functions, positions, sizes, time maps) with the same arguments.
Nodes here are the leaves and the transforms; the compositing nodes are in
:mod:`impls.moviepy.fastpath.composite`, resizing in :mod:`impls.moviepy.fastpath.resize`, and
which MoviePy clip becomes which node is decided in :mod:`impls.moviepy.fastpath.plan`.

``pure``: evaluating the node has no effect but its value, so a layer that cannot show may be
left unevaluated. True for images, files and the known transforms of pure nodes; false for
anything that runs code the fast path does not know.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from moviepy.tools import convert_to_seconds

from impls.moviepy.fastpath.frame import Array, Frame


class Unsupported(Exception):
    """A frame the fast path does not handle (a shape MoviePy would reject, say): the node's
    owner evaluates it with MoviePy instead, which gives MoviePy's value or MoviePy's error."""


class Node:
    """One clip of the tree."""

    #: What the node does differently from MoviePy (for saying whether the fast path helps).
    speeds_up = False

    def __init__(self, clip: Any, children: Sequence[Node] = (), *, pure: bool = True) -> None:
        self.clip = clip
        self.children = tuple(children)
        self.pure: bool = pure and all(child.pure for child in self.children)

    @property
    def accelerated(self) -> bool:
        """Whether any node of this subtree does less work than MoviePy."""
        return self.speeds_up or any(child.accelerated for child in self.children)

    def frame(self, t: Any) -> Frame:
        raise NotImplementedError

    def key(self, t: Any, out: list[Any]) -> None:
        """Append what decides the path a frame at ``t`` takes (playing layers, fades): frames
        with equal keys exercise the same code, so the sampled check picks distinct keys."""
        for child in self.children:
            child.key(t, out)

    def moviepy_frame(self, t: Any) -> Frame:
        """The clip's frame as MoviePy computes it."""
        value = self.clip.get_frame(t)
        if not isinstance(value, np.ndarray):
            raise Unsupported(f"get_frame returned {type(value).__name__}, not an array")
        return Frame.of_array(value)


class Still(Node):
    """An ImageClip (ColorClip, TextClip): the same image at every ``t``.

    The image is taken to stay as it is during the render, as MoviePy's own ImageClip takes it
    (it transforms the image once, when the clip is made). Conversions of it (to a PIL image,
    to uint8, a resize to a given size) are made once and kept.
    """

    def __init__(self, clip: Any, image: Array) -> None:
        super().__init__(clip)
        self._frame = Frame.of_array(image, still=True)

    def frame(self, t: Any) -> Frame:
        return self._frame


class MoviePy(Node):
    """A clip the fast path does not know: MoviePy computes its frames (and everything below)."""

    def __init__(self, clip: Any, *, pure: bool = False) -> None:
        super().__init__(clip, pure=pure)

    def frame(self, t: Any) -> Frame:
        return self.moviepy_frame(t)


class Transform(Node):
    """``clip.transform(func)``: ``func(get_frame, t)``, with ``get_frame`` the fast path's."""

    def __init__(self, clip: Any, func: Callable[..., Any], inner: Node) -> None:
        super().__init__(clip, [inner], pure=False)
        self.func = func
        self.inner = inner

    def _get_frame(self, t: Any) -> Array:
        # Code the fast path does not know may write into the frame it is given, as MoviePy's
        # frames mostly allow: a read-only view (of a PIL image, of one pixel) is copied.
        array = self.inner.frame(convert_to_seconds(t)).array()
        return array if array.flags.writeable else array.copy()

    def frame(self, t: Any) -> Frame:
        value = self.func(self._get_frame, t)
        if not isinstance(value, np.ndarray):
            raise Unsupported(f"a transform returned {type(value).__name__}, not an array")
        return Frame.of_array(value)


class Elementwise(Node):
    """A transform known to work on each value alone and to have no other effect (fades,
    opacity): on a constant frame it is computed for one pixel (see :meth:`Frame.map`)."""

    def __init__(
        self, clip: Any, func: Callable[..., Any], inner: Node, fading: Callable[[Any], bool] | None
    ) -> None:
        super().__init__(clip, [inner])
        self.func = func
        self.inner = inner
        self.fading = fading  # whether a fade is under way at t (for sampling)

    def frame(self, t: Any) -> Frame:
        frames: list[Frame] = []

        def get_frame(time: Any) -> Array:
            inner = self.inner.frame(convert_to_seconds(time))
            frames.append(inner)
            pixel = inner.pixel()
            return inner.array() if pixel is None else np.broadcast_to(pixel, (1, 1, *pixel.shape))

        value = self.func(get_frame, t)
        if len(frames) != 1 or not isinstance(value, np.ndarray):
            # Not the shape of call the fades and opacity make: nothing small was handed out
            # unless the frame was constant, so redo it with full-size frames.
            return Frame.of_array(np.asarray(self.func(self._full_frame, t)))
        inner = frames[0]
        if inner.pixel() is not None:
            if value.shape[:2] != (1, 1):
                return Frame.of_array(np.asarray(self.func(self._full_frame, t)))
            return Frame.filled(value[0, 0], inner.shape[:2] + value.shape[2:])
        return Frame.of_array(value)

    def _full_frame(self, t: Any) -> Array:
        return self.inner.frame(convert_to_seconds(t)).array()

    def key(self, t: Any, out: list[Any]) -> None:
        if self.fading is not None:
            out.append(("fading", bool(self.fading(t))))
        super().key(t, out)


class TimeMap(Node):
    """``clip.time_transform(f)`` (subclips, speed changes): the inner clip at ``f(t)``."""

    def __init__(self, clip: Any, time_func: Callable[[Any], Any], inner: Node) -> None:
        super().__init__(clip, [inner])
        self.time_func = time_func
        self.inner = inner

    def frame(self, t: Any) -> Frame:
        return self.inner.frame(convert_to_seconds(self.time_func(t)))

    def key(self, t: Any, out: list[Any]) -> None:
        self.inner.key(convert_to_seconds(self.time_func(t)), out)


class Chain(Node):
    """``concatenate_videoclips(method="chain")``: the clip playing at ``t``, at its own time."""

    def __init__(self, clip: Any, parts: Sequence[Node], timings: Any) -> None:
        super().__init__(clip, parts)
        self.parts = tuple(parts)
        self.timings = timings

    def _index(self, t: Any) -> int:
        return max([i for i, e in enumerate(self.timings) if e <= t])  # MoviePy's expression

    def frame(self, t: Any) -> Frame:
        i = self._index(t)
        return self.parts[i].frame(t - self.timings[i])

    def key(self, t: Any, out: list[Any]) -> None:
        i = self._index(t)
        out.append(("part", i))
        self.parts[i].key(t - self.timings[i], out)
