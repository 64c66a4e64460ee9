"""The fast path's frames equal MoviePy's byte for byte, clip kind by clip kind.

Every case is built twice, with MoviePy's ColorClips and with the workers' lean ones, and every
frame is compared both as RGB (``frame_rgb``) and as RGBA (``frame_rgba``, the clip's mask as
alpha). The renders with the fast path are in ``test_fastpath_render.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from moviepy import ColorClip, CompositeVideoClip, ImageClip, VideoClip

from harness.workloads import SLIDESHOW
from harness.workloads.slideshow import synthetic_image
from impls import ClipSource
from impls.model.timeline import Timeline, frame_rgb, frame_rgba
from impls.moviepy import clip_pickle
from impls.moviepy.color_clips import lean_color_clips
from impls.moviepy.fastpath import Checked, FastFrames, choose_frames, difference, verdict
from impls.moviepy.fastpath.frame import Frame
from impls.moviepy.fastpath.identities import broken_identity
from impls.moviepy.fastpath.nodes import MoviePy, Node
from impls.moviepy.fastpath.resize import Resized
from tests import edit_clips
from tests.renders import TINY_SLIDESHOW

#: Cases in which nothing is left to speed up: a chain of images, fades of a frame function.
NOT_ACCELERATED = {"fades", "chain"}


def _build(make: Any, lean: bool) -> Any:
    if lean:
        with lean_color_clips():
            return make()
    return make()


def _nodes(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from _nodes(child)


def _assert_same_frames(clip: Any, fps: float = edit_clips.FPS) -> FastFrames:
    fast = FastFrames(clip)
    timeline = Timeline.for_clip(clip, fps)
    for index in range(timeline.frames):
        t = timeline.time(index)
        for ours, moviepys in ((fast.rgb, frame_rgb), (fast.rgba, frame_rgba)):
            expected = moviepys(clip, t)
            got = ours(t)
            assert difference(expected, got) == "", f"frame {index} ({ours.__name__})"
            assert got.flags.c_contiguous
    assert fast.fallbacks == 0
    return fast


def test_pillow_identities_hold() -> None:
    assert broken_identity() is None


@pytest.mark.parametrize("lean", [False, True], ids=["moviepy_colorclips", "lean_colorclips"])
@pytest.mark.parametrize("case", sorted(edit_clips.CASES))
def test_frames_equal_moviepys(case: str, lean: bool) -> None:
    clip = _build(edit_clips.CASES[case], lean)
    fast = _assert_same_frames(clip)
    assert fast.root.accelerated is (case not in NOT_ACCELERATED)


@pytest.mark.parametrize("lean", [False, True], ids=["moviepy_colorclips", "lean_colorclips"])
def test_video_file_frames_equal_moviepys(lean: bool, tmp_path: Path) -> None:
    clip = _build(lambda: edit_clips.video_file(tmp_path), lean)
    try:
        fast = _assert_same_frames(clip)
        kinds = {type(node).__name__ for node in _nodes(fast.root)}
        assert {"Composite", "Resized", "TimeMap", "Elementwise"} <= kinds
    finally:
        clip.close()


def test_slideshow_frames_equal_moviepys() -> None:
    with lean_color_clips():
        clip = ClipSource(SLIDESHOW, TINY_SLIDESHOW).load()
    fast = _assert_same_frames(clip, clip.fps)
    kinds = {type(node).__name__ for node in _nodes(fast.root)}
    assert {"Composite", "MaskComposite", "Resized", "Elementwise", "Still"} <= kinds
    assert not any(isinstance(node, MoviePy) for node in _nodes(fast.root))


def test_a_pickled_clip_is_planned_as_its_original() -> None:
    # A clip sent to workers holds copies of MoviePy's closures (cloudpickle sends lambdas by
    # value); the planner must still recognise them, or the clip-object render loses the
    # fast path's savings while its frames stay right.
    clip = ClipSource(SLIDESHOW, TINY_SLIDESHOW).load()
    travelled = clip_pickle.load(clip_pickle.dump(clip).data)
    original, copy = FastFrames(clip), FastFrames(travelled)
    assert [type(node).__name__ for node in _nodes(copy.root)] == [
        type(node).__name__ for node in _nodes(original.root)
    ]
    assert not any(isinstance(node, MoviePy) for node in _nodes(copy.root))
    _assert_same_frames(travelled, travelled.fps)


def test_a_clip_it_does_not_know_is_left_to_moviepy() -> None:
    class Inverted(ImageClip):  # type: ignore[misc]
        def get_frame(self, t: Any) -> Any:
            return 255 - super().get_frame(t)

    inverted = Inverted(synthetic_image(30, 20, 1)).with_duration(1.0)
    clip = CompositeVideoClip([edit_clips.background(), inverted.with_position((5, 5))]).with_duration(1.0)
    fast = _assert_same_frames(clip)
    assert any(isinstance(node, MoviePy) and node.clip is not clip for node in _nodes(fast.root))


def test_a_frame_the_fast_path_cannot_make_is_moviepys(monkeypatch: pytest.MonkeyPatch) -> None:
    clip = edit_clips.resized()
    fast = FastFrames(clip)
    t = Timeline.for_clip(clip, edit_clips.FPS).time(3)

    def broken(self: Resized, t: Any) -> Frame:
        raise ZeroDivisionError("a fault of the fast path")

    monkeypatch.setattr(Resized, "frame", broken)
    assert difference(frame_rgb(clip, t), fast.rgb(t)) == ""
    assert fast.fallbacks == 1


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize(
    "size", [(1, 1), (3, 2), (40, 30), (200, 7), (640, 400)], ids=lambda s: f"{s[0]}x{s[1]}"
)
def test_a_constant_image_resizes_to_a_constant(mode: str, size: tuple[int, int]) -> None:
    """The resize of a one-colour frame is computed on one pixel (see fastpath.resize)."""
    from PIL import Image

    colors: dict[str, int | tuple[int, ...]] = {
        "L": 77, "RGB": (1, 128, 255), "RGBA": (200, 100, 50, 99),
    }  # fmt: skip
    channels = {"L": (), "RGB": (3,), "RGBA": (4,)}[mode]
    pixel = np.array(colors[mode], dtype=np.uint8)
    source = Frame.filled(pixel, (47, 53, *channels))
    node = Resized(None, _Fixed(source), lambda t: size, mask=False, fixed=True)
    got = node.frame(0).array()
    expected = np.asarray(Image.new(mode, (53, 47), colors[mode]).resize(size, Image.Resampling.LANCZOS))
    assert difference(expected, np.ascontiguousarray(got)) == ""


class _Fixed(Node):
    def __init__(self, frame: Frame) -> None:
        super().__init__(None)
        self._frame = frame

    def frame(self, t: Any) -> Frame:
        return self._frame


def test_frames_to_check_include_the_transition() -> None:
    with lean_color_clips():
        clip = ClipSource(SLIDESHOW, TINY_SLIDESHOW).load()
    timeline = Timeline.for_clip(clip)
    frames = choose_frames(FastFrames(clip), timeline, 4)
    assert len(frames) == 4 and frames == sorted(set(frames))
    playing = [len(clip.playing_clips(timeline.time(i))) for i in frames]
    assert 2 in playing and 1 in playing  # a crossfade frame and a single-slide one


def test_difference_and_verdict() -> None:
    a = np.zeros((4, 5, 3), dtype=np.uint8)
    b = a.copy()
    b[2, 3, 1] = 9
    assert difference(a, a.copy()) == ""
    assert difference(a, b) == "1 values differ, the first at (2, 3, 1)"
    assert "shape" in difference(a, a[:, :, :2])
    assert verdict([Checked(3), Checked(9)]) == {"enabled": True, "checked_frames": [3, 9]}
    off = verdict([Checked(9), Checked(3, "1 values differ")])
    assert off["enabled"] is False and off["reason"].startswith("frame 3 differs")


def test_constant_images_stay_one_pixel() -> None:
    """A composite of lean ColorClips never draws them at full size."""
    with lean_color_clips():
        clip = CompositeVideoClip(
            [ColorClip((640, 360), (10, 20, 30)).with_duration(1).with_opacity(0.5)],
            size=(640, 360),
        ).with_duration(1)
    frame = FastFrames(clip).root.frame(np.float64(0.5))
    assert frame.pixel() is not None
    assert difference(frame_rgb(clip, np.float64(0.5)), np.ascontiguousarray(frame.array())) == ""


def test_fast_frames_of_a_plain_frame_function_are_moviepys() -> None:
    clip = VideoClip(lambda t: np.full((9, 11, 3), int(t * 10), dtype=np.uint8), duration=1)
    fast = _assert_same_frames(clip)
    assert isinstance(fast.root, MoviePy)
    assert fast.reason_unused() is not None


def test_part_of_a_resize_equals_the_crop_of_the_whole() -> None:
    """The visible part of a resize is computed alone (see fastpath.resize), same bytes."""
    from PIL import Image

    from impls.moviepy.fastpath.resize import _part

    rng = np.random.default_rng(0)
    made = 0
    for trial in range(80):
        in_w, in_h = (int(v) for v in rng.integers(5, 200, 2))
        width, height = (int(v) for v in rng.integers(3, 300, 2))
        mode = ("RGB", "L")[trial % 2]
        shape = (in_h, in_w, 3) if mode == "RGB" else (in_h, in_w)
        source = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
        left, top = int(rng.integers(0, width // 2 + 1)), int(rng.integers(0, height // 2 + 1))
        box = (left, top, int(rng.integers(left + 1, width + 1)), int(rng.integers(top + 1, height + 1)))
        part = _part(source, (width, height), box)
        if part is None:
            continue
        made += 1
        whole = source.resize((width, height), Image.Resampling.LANCZOS)
        where = (source.size, (width, height), box)
        assert difference(np.asarray(whole.crop(box)), np.asarray(part)) == "", where
    assert made > 40


def test_code_it_does_not_know_gets_frames_it_may_write_into() -> None:
    def brighten(get_frame: Any, t: Any) -> Any:
        frame = get_frame(t)
        frame[:2] = 255  # in place, as MoviePy's frames allow
        return frame

    zoom = edit_clips.image(40, 30, 1).resized(lambda t: 1 + t)
    clip = CompositeVideoClip([edit_clips.background(), zoom.transform(brighten)]).with_duration(1)
    fast = _assert_same_frames(clip)
    assert fast.fallbacks == 0


def test_after_many_fallbacks_moviepy_makes_every_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    clip = edit_clips.resized()
    fast = FastFrames(clip)
    timeline = Timeline.for_clip(clip, edit_clips.FPS)

    def broken(self: Resized, t: Any) -> Frame:
        raise ZeroDivisionError("a fault of the fast path")

    monkeypatch.setattr(Resized, "frame", broken)
    for index in range(timeline.frames):
        t = timeline.time(index)
        assert difference(frame_rgb(clip, t), fast.rgb(t)) == ""
    assert fast.fallbacks == 4  # then it stopped trying
