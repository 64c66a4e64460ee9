"""Which MoviePy clip becomes which node, decided once per clip before any frame.

MoviePy builds most clips from closures: ``clip.transform(f)`` is a clip whose
``frame_function`` is ``lambda t: func(self.get_frame, t)``; ``resized``, the fades and
``with_opacity`` pass their own nested functions as ``func``. Those are recognised by their code
objects (found in MoviePy's functions when this module is imported) and read through their
closure cells: the same objects MoviePy's own evaluation would call. A clip that is anything
else (a subclass overriding ``get_frame`` or ``compose_on``, a user's ``frame_function``, a
closure of another MoviePy version) becomes a :class:`~impls.moviepy.fastpath.nodes.MoviePy`
node: MoviePy computes it, so the fast path never guesses.

Code objects are compared by value (``==``: same name, bytecode, constants, names and line
numbers), never by identity: a clip that travelled by pickle
(:mod:`impls.moviepy.clip_pickle`) holds copies of MoviePy's closures, whose code is equal to
MoviePy's but is not the same object.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from moviepy.Clip import Clip
from moviepy.video.compositing.CompositeVideoClip import CompositeVideoClip, concatenate_videoclips
from moviepy.video.fx.FadeIn import FadeIn
from moviepy.video.fx.FadeOut import FadeOut
from moviepy.video.fx.Resize import Resize
from moviepy.video.io.VideoFileClip import VideoFileClip
from moviepy.video.VideoClip import ImageClip, VideoClip

from impls.moviepy import color_clips
from impls.moviepy.fastpath.composite import Composite, Entry, MaskComposite
from impls.moviepy.fastpath.nodes import (
    Chain,
    Elementwise,
    MoviePy,
    Node,
    Still,
    TimeMap,
    Transform,
)
from impls.moviepy.fastpath.resize import Resized


def _nested(function: Callable[..., Any]) -> Iterator[types.CodeType]:
    """The code objects defined inside ``function`` (its lambdas and inner functions)."""
    pending = [inspect.unwrap(function).__code__]
    while pending:
        code = pending.pop()
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                yield const
                pending.append(const)


def _named(function: Callable[..., Any], name: str) -> list[types.CodeType]:
    return [code for code in _nested(function) if code.co_name == name]


def _one(function: Callable[..., Any], name: str) -> types.CodeType | None:
    found = _named(function, name)
    return found[0] if len(found) == 1 else None


#: frame_function of an image: ``lambda t: img`` (ImageClip, its image_transform, lean ColorClip).
_IMAGE = {
    code
    for function in (ImageClip.__init__, ImageClip.image_transform, color_clips._widen)
    for code in _named(function, "<lambda>")
}
_TRANSFORM = _one(Clip.transform, "<lambda>")  # lambda t: func(self.get_frame, t)
_TIME_TRANSFORM = _one(Clip.time_transform, "<lambda>")  # get_frame(time_func(t))
_IMAGE_TRANSFORM = _one(VideoClip.image_transform, "<lambda>")  # image_func(get_frame(t))
_OPACITY = _one(VideoClip.with_opacity, "<lambda>")  # opacity * pic
_CHAIN = _one(concatenate_videoclips, "frame_function")
_FILE = {
    *_named(VideoFileClip.__init__, "<lambda>"),
    *_named(VideoFileClip.__init__, "mask_frame_function"),
}
_FADES = set(_named(FadeIn.apply, "filter") + _named(FadeOut.apply, "filter"))
# Resize's filters: per frame (``filter``) or fixed size (``image_filter``), each with a
# variant for masks, the one that scales by 255.
_RESIZE = {code: 255 in code.co_consts for code in _named(Resize.apply, "filter")}
_RESIZE_FIXED = {code: 255 in code.co_consts for code in _named(Resize.apply, "image_filter")}


def _cells(function: Any) -> dict[str, Any]:
    """A closure's free variables by name (empty when there are none or a cell is empty)."""
    code = getattr(function, "__code__", None)
    closure = getattr(function, "__closure__", None) or ()
    if code is None or len(code.co_freevars) != len(closure):
        return {}
    try:
        return {name: cell.cell_contents for name, cell in zip(code.co_freevars, closure)}
    except ValueError:  # an empty cell
        return {}


def _code(function: Any) -> types.CodeType | None:
    code = getattr(function, "__code__", None)
    return code if isinstance(code, types.CodeType) else None


class Planner:
    """Builds the node tree of a clip; one node per clip object, shared where MoviePy shares."""

    def __init__(self) -> None:
        self._nodes: dict[int, Node] = {}
        self._busy: set[int] = set()
        self._clips: list[Any] = []  # keeps every planned clip alive, so ids stay theirs

    def node(self, clip: Any) -> Node:
        key = id(clip)
        found = self._nodes.get(key)
        if found is not None:
            return found
        if key in self._busy:  # a clip inside itself: nothing to plan, MoviePy knows what to do
            return MoviePy(clip)
        self._busy.add(key)
        try:
            node = self._make(clip)
        finally:
            self._busy.discard(key)
        self._nodes[key] = node
        self._clips.append(clip)
        return node

    def _make(self, clip: Any) -> Node:
        if not isinstance(clip, VideoClip) or type(clip).get_frame is not Clip.get_frame:
            return MoviePy(clip)
        function = vars(clip).get("frame_function")
        if function is None:
            if type(clip).frame_function is CompositeVideoClip.frame_function:
                return self._composite(clip)
            return MoviePy(clip)
        code, cells = _code(function), _cells(function)
        if code in _IMAGE and len(cells) == 1:
            (image,) = cells.values()
            if isinstance(image, np.ndarray):
                return Still(clip, image)
        elif code is not None and code == _TRANSFORM and {"func", "self"} <= cells.keys():
            return self._transform(clip, cells["func"], self.node(cells["self"]))
        elif code is not None and code == _CHAIN and {"clips", "timings"} <= cells.keys():
            return Chain(clip, [self.node(part) for part in cells["clips"]], cells["timings"])
        elif code in _FILE:
            return MoviePy(clip, pure=True)  # a file's frame at t, whoever asked before
        return MoviePy(clip)

    def _transform(self, clip: Any, func: Any, inner: Node) -> Node:
        code, cells = _code(func), _cells(func)
        if code in _RESIZE:
            effect = cells.get("self")
            if type(effect) is Resize and "get_new_size" in cells:
                return Resized(clip, inner, cells["get_new_size"], mask=_RESIZE[code], fixed=False)
        elif code in _FADES:
            effect = cells.get("self")
            if type(effect) in (FadeIn, FadeOut):
                return Elementwise(clip, func, inner, _fading(effect, cells))
        elif code is not None and code == _IMAGE_TRANSFORM and "image_func" in cells:
            image_func = cells["image_func"]
            image_code, image_cells = _code(image_func), _cells(image_func)
            resize: Any = image_cells.get("self")
            if image_code in _RESIZE_FIXED and type(resize) is Resize:
                mask = _RESIZE_FIXED[image_code]
                return Resized(clip, inner, lambda t: resize.new_size, mask=mask, fixed=True)
            if image_code is not None and image_code == _OPACITY:
                return Elementwise(clip, func, inner, None)
        elif code is not None and code == _TIME_TRANSFORM and "time_func" in cells:
            return TimeMap(clip, cells["time_func"], inner)
        return Transform(clip, func, inner)

    def _composite(self, clip: Any) -> Node:
        if type(clip).playing_clips is not CompositeVideoClip.playing_clips:
            return MoviePy(clip)
        method = "compose_mask" if clip.is_mask else "compose_on"
        for child in clip.clips:
            if getattr(type(child), method, None) is not getattr(VideoClip, method):
                return MoviePy(clip)
            if type(child).is_playing is not Clip.is_playing:
                return MoviePy(clip)
        entries = {
            id(child): Entry(
                order,
                self.node(child),
                self.node(child.mask) if child.mask is not None and not clip.is_mask else None,
            )
            for order, child in enumerate(clip.clips)
        }
        if clip.is_mask:
            return MaskComposite(clip, entries)
        background = getattr(clip, "bg", None)
        if background is None:  # closed
            return MoviePy(clip)
        background_mask = self.node(background.mask) if background.mask else None
        return Composite(clip, self.node(background), background_mask, entries)


def _fading(effect: Any, cells: dict[str, Any]) -> Callable[[Any], bool] | None:
    """Whether the fade is under way at t (FadeIn at the start, FadeOut at the end)."""
    if isinstance(effect, FadeIn):
        return lambda t: bool(t < effect.duration)
    clip = cells.get("clip")
    if clip is None:
        return None
    return lambda t: bool((clip.duration - t) < effect.duration)
