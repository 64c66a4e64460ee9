"""Workloads: the frame-index code, the slideshow, and MoviePy-exact frames without the mask."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from harness.decode import framemd5
from harness.workloads import frame_index, slideshow
from impls import EncoderSpec
from impls.ffmpeg.command import RawFormat
from impls.ffmpeg.process import FrameWriter
from impls.model.timeline import Timeline, frame_rgb, frame_rgba
from tests.renders import TINY_SLIDESHOW, BaselineRenders

# ---------------------------------------------------------------------------------------------
# frame_index


@pytest.mark.parametrize(("width", "height"), [(160, 90), (64, 64), (1920, 1080)], ids=str)
@pytest.mark.parametrize("index", [0, 1, 2, 255, 256, 4097, 2**16 - 1], ids=str)
def test_frame_index_round_trips(width: int, height: int, index: int) -> None:
    frame = frame_index.draw(index, width, height)
    assert frame.shape == (height, width, 3) and frame.dtype == np.uint8
    assert frame_index.decode(frame) == index


@pytest.mark.parametrize("index", [-1, 2**16], ids=str)
def test_frame_index_rejects_indices_it_cannot_carry(index: int) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        frame_index.draw(index, 64, 64)


def test_consecutive_index_frames_always_differ() -> None:
    # Otherwise a duplicated frame could hide in an exact (framemd5) comparison.
    frames = [frame_index.draw(i, 64, 64).tobytes() for i in range(300)]
    assert all(a != b for a, b in zip(frames, frames[1:]))


@pytest.mark.parametrize("fps", [30, 24, 30000 / 1001, 25], ids=str)
def test_frame_index_clip_shows_each_frames_own_index(fps: float) -> None:
    clip = frame_index.make(width=64, height=64, fps=fps, duration=2.0)
    timeline = Timeline.for_clip(clip)
    assert [frame_index.decode(frame_rgb(clip, timeline.time(i))) for i in range(timeline.frames)] == list(
        range(timeline.frames)
    )
    assert clip.audio is None
    assert frame_index.make(width=64, height=64, audio=True).audio is not None


# ---------------------------------------------------------------------------------------------
# slideshow


def test_slideshow_shape_audio_and_mask() -> None:
    clip = slideshow.make(**TINY_SLIDESHOW)
    assert tuple(clip.size) == (160, 90)
    assert clip.fps == 30 and clip.duration == pytest.approx(1.5)
    assert clip.mask is not None  # like the seed's composition: write_videofile sends RGBA
    assert clip.audio is not None and clip.audio.duration == pytest.approx(1.5)
    assert slideshow.make(**{**TINY_SLIDESHOW, "audio": False}).audio is None


def test_slideshow_is_deterministic_per_seed() -> None:
    t = np.float64(0.7)
    a = frame_rgb(slideshow.make(**TINY_SLIDESHOW, seed=3), t)
    b = frame_rgb(slideshow.make(**TINY_SLIDESHOW, seed=3), t)
    c = frame_rgb(slideshow.make(**TINY_SLIDESHOW, seed=4), t)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_synthetic_images_are_detailed() -> None:
    # Flat colours would make the encoder's job trivial and the benchmark meaningless.
    image = slideshow.synthetic_image(320, 180, seed=0)
    assert image.shape == (180, 320, 3) and image.dtype == np.uint8
    for channel in range(3):
        values = image[..., channel]
        assert len(np.unique(values)) > 128
        assert values.std() > 25
    # Fine detail: neighbouring pixels differ nearly everywhere.
    assert np.mean(np.any(image[:, 1:] != image[:, :-1], axis=-1)) > 0.5


def test_slideshow_frames_change_every_frame() -> None:
    clip = slideshow.make(**TINY_SLIDESHOW)
    timeline = Timeline.for_clip(clip)
    frames = [frame_rgb(clip, timeline.time(i)).tobytes() for i in range(timeline.frames)]
    assert all(a != b for a, b in zip(frames, frames[1:]))


# ---------------------------------------------------------------------------------------------
# Skipping the top-level mask is harmless


def test_frames_without_the_mask_equal_moviepys(tmp_path: Path) -> None:
    # What write_videofile does for a masked clip: iter_frames(dtype="uint8") and, for every
    # frame, the mask at the same t. frame_rgb on a fresh clip never computes the mask.
    theirs_clip = slideshow.make(**TINY_SLIDESHOW)
    theirs = []
    masks = []
    for t, frame in theirs_clip.iter_frames(fps=theirs_clip.fps, with_times=True, dtype="uint8"):
        theirs.append(frame)
        masks.append((255 * theirs_clip.mask.get_frame(t)).astype("uint8"))

    ours_clip = slideshow.make(**TINY_SLIDESHOW)
    timeline = Timeline.for_clip(ours_clip)
    assert timeline.frames == len(theirs)
    for i in range(timeline.frames):
        ours = frame_rgb(ours_clip, timeline.time(i))
        assert ours.shape == theirs[i].shape == (90, 160, 3)
        assert np.array_equal(ours, theirs[i]), f"frame {i} differs"
        assert np.array_equal(frame_rgba(ours_clip, timeline.time(i))[..., 3], masks[i])


def test_rgb_frames_encode_to_the_baselines_rgba_output(
    baseline_renders: BaselineRenders, tmp_path: Path
) -> None:
    # End to end: RGB without the mask, encoded losslessly, decodes to exactly the frames
    # MoviePy's write_videofile produced from RGBA (mask computed, then discarded by yuv420p).
    render = baseline_renders.slideshow
    clip = slideshow.make(**TINY_SLIDESHOW)
    timeline = Timeline.for_clip(clip)
    out = tmp_path / "rgb.mp4"
    fmt = RawFormat(160, 90, timeline.rate)
    with FrameWriter(out, fmt, EncoderSpec.lossless()) as writer:
        for i in range(timeline.frames):
            writer.write(frame_rgb(clip, timeline.time(i)))
    assert timeline.rate == Fraction(30)
    assert framemd5(out) == framemd5(render.path)
