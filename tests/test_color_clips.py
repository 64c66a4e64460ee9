"""Frame workers build ColorClips as one pixel (impls.moviepy.color_clips): same frames, no memory."""

from __future__ import annotations

import os
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from moviepy import ColorClip, CompositeVideoClip

from harness.workloads import SLIDESHOW
from impls import ClipSource, RenderJob, get_renderer
from impls.moviepy import worker
from impls.moviepy.color_clips import lean_color_clips
from impls.runtime import local
from tests.renders import TINY_SLIDESHOW

ORIGINAL_INIT = ColorClip.__init__

COLORS: list[dict[str, Any]] = [
    {},
    {"color": (10, 200, 30)},
    {"color": (0.5, 0.25, 1.0)},
    {"color": (1, 2, 3, 128)},
    {"color": (0, 0, 0, 0)},
    {"is_mask": True},
    {"color": 0.3, "is_mask": True},
    {"color": [7, 8, 9], "duration": 2.5},
]


def _same_clip(lean: Any, full: Any) -> None:
    assert lean.size == full.size
    assert lean.duration == full.duration and lean.is_mask == full.is_mask
    assert lean.img.shape == full.img.shape and lean.img.dtype == full.img.dtype
    np.testing.assert_array_equal(lean.img, full.img)
    frame, expected = lean.get_frame(0.5), full.get_frame(0.5)
    assert frame.dtype == expected.dtype
    np.testing.assert_array_equal(frame, expected)


@pytest.mark.parametrize("kwargs", COLORS, ids=repr)
def test_lean_color_clip_equals_moviepys(kwargs: dict[str, Any]) -> None:
    size = (37, 21)  # odd and not square: width and height must not be swapped
    full = ColorClip(size, **kwargs)
    with lean_color_clips():
        lean = ColorClip(size, **kwargs)
    _same_clip(lean, full)
    assert (full.mask is None) == (lean.mask is None)
    if full.mask is not None:  # an RGBA colour: its alpha became a mask
        _same_clip(lean.mask, full.mask)
    # One pixel held, read-only: a write fails loudly instead of changing every frame.
    assert lean.img.strides[:2] == (0, 0)
    assert not lean.img.flags.writeable


def test_composite_of_lean_clips_renders_the_same_frames() -> None:
    def build() -> Any:
        base = ColorClip((64, 36), color=(40, 80, 120), duration=1)
        spot = ColorClip((20, 10), color=(250, 10, 10, 200), duration=1).with_position((5, 7))
        return CompositeVideoClip([base, spot.with_opacity(0.5)], size=(64, 36))

    full = build()
    with lean_color_clips():
        lean = build()
    assert lean.bg.img.strides[:2] == (0, 0)  # the composite's own background is lean too
    for t in (0.0, 0.5):
        np.testing.assert_array_equal(lean.get_frame(t), full.get_frame(t))
        np.testing.assert_array_equal(lean.mask.get_frame(t), full.mask.get_frame(t))


def test_bad_colour_is_refused_as_moviepy_refuses_it() -> None:
    with pytest.raises(Exception, match="Color cannot be string"):
        ColorClip((4, 4), color="red")
    with lean_color_clips(), pytest.raises(Exception, match="Color cannot be string"):
        ColorClip((4, 4), color="red")


def test_fractional_size_is_refused_as_moviepy_refuses_it() -> None:
    with pytest.raises(TypeError):
        ColorClip((10.5, 4))
    with lean_color_clips(), pytest.raises(TypeError):
        ColorClip((10.5, 4))


def test_numpy_integer_size_gives_python_ints_as_moviepy_does() -> None:
    with lean_color_clips():
        lean = ColorClip((np.int64(6), np.int64(4)), color=(1, 2, 3))
    assert lean.size == (6, 4) and all(type(v) is int for v in lean.size)


def test_moviepy_is_restored_after_the_block_even_after_an_error() -> None:
    with pytest.raises(RuntimeError), lean_color_clips():
        with lean_color_clips():  # nested (two clips built at once in one Dask worker)
            pass
        assert ColorClip.__init__ is not ORIGINAL_INIT
        raise RuntimeError("factory failed")
    assert ColorClip.__init__ is ORIGINAL_INIT
    assert ColorClip((3, 2)).img.flags.writeable


def lean_backgrounds(source: worker.FrameSource) -> list[tuple[int, ...]]:
    """Run in a worker: strides of every composite background in the clip it built."""
    clip, _ = worker.clip_for(source)
    found, todo = [], [clip]
    while todo:
        node = todo.pop()
        bg = getattr(node, "bg", None)
        if bg is not None and getattr(bg, "img", None) is not None:
            found.append(tuple(bg.img.strides))
        todo += list(getattr(node, "clips", []))
    return found


def test_frame_workers_build_lean_clips_and_the_caller_does_not() -> None:
    recipe = worker.FactoryClip(ClipSource(SLIDESHOW, TINY_SLIDESHOW), "lean-test")
    source = worker.FrameSource(recipe, Fraction(30), False, 160, 90)
    pool = local.LocalPool(1, local.default_start_method())
    try:
        strides = pool.submit(lean_backgrounds, source).result(timeout=120)
    finally:
        pool.close()
    # The concatenation's composite and each slide's: all hold one pixel.
    assert len(strides) > 1 and all(s[:2] == (0, 0) for s in strides), strides
    assert ColorClip.__init__ is ORIGINAL_INIT


def test_only_the_thread_in_the_block_builds_lean_clips() -> None:
    # A user's thread (or a Dask worker's other task) building clips meanwhile gets MoviePy's.
    other: list[Any] = []
    with lean_color_clips():
        thread = threading.Thread(target=lambda: other.append(ColorClip((8, 6), color=(1, 2, 3))))
        thread.start()
        thread.join()
        mine = ColorClip((8, 6), color=(1, 2, 3))
    assert not mine.img.flags.writeable
    assert other[0].img.flags.writeable and other[0].img.strides[:2] != (0, 0)
    np.testing.assert_array_equal(mine.img, other[0].img)


def recorded(log: str) -> Any:
    """A clip factory that notes, per process, whether its ColorClip came out lean."""
    clip = ColorClip((32, 18), color=(10, 20, 30), duration=0.5).with_fps(10)
    with open(log, "a") as handle:
        handle.write(f"{os.getpid()} {int(clip.img.flags.writeable)}\n")
    return clip


def test_parallel_renders_build_lean_clips_in_the_caller_and_the_baseline_does_not(
    tmp_path: Path,
) -> None:
    def built_by(name: str) -> dict[int, set[int]]:
        log = tmp_path / f"{name}.log"
        source = ClipSource("tests.test_color_clips:recorded", {"log": str(log)})
        get_renderer(name).render(RenderJob(source, tmp_path / f"{name}.mp4", workers=1))
        seen: dict[int, set[int]] = {}
        for line in log.read_text().split("\n"):
            if line:
                pid, writeable = (int(x) for x in line.split())
                seen.setdefault(pid, set()).add(writeable)
        return seen

    pipe = built_by("pipe")
    assert pipe.pop(os.getpid()) == {0}  # the caller's copy: size, timeline, audio only
    assert pipe and all(flags == {0} for flags in pipe.values())  # the worker's
    assert built_by("baseline") == {os.getpid(): {1}}  # MoviePy as-is
    assert ColorClip.__init__ is ORIGINAL_INIT
