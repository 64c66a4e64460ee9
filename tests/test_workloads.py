"""Workloads: the frame-index code, the slideshow, MoviePy-exact frames without the mask, the
generated media, the edit, the captions, the LaTeX explainer and the presets."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.decode import framemd5, iter_rgb_frames, probe
from harness.workloads import cache, captions, edit, explainer_tex, fonts, frame_index, media, presets, slideshow
from impls import EncoderSpec
from impls.ffmpeg.command import RawFormat
from impls.ffmpeg.probe import count_packets
from impls.ffmpeg.process import FrameWriter
from impls.model.timeline import Timeline, frame_rgb, frame_rgba
from tests.media import make_video
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


# ---------------------------------------------------------------------------------------------
# Generated media: the edit's and the captions' source video and music


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_ENV, str(folder))
    return folder


def test_source_video_is_made_once_with_moving_detail_and_sound(own_cache: Path) -> None:
    path = media.source_video(160, 90, 30, 3.0)
    assert path.parent == own_cache / "media" and path.name == "source-v1-160x90-30fps-3s.mp4"
    streams = {s["codec_type"]: s for s in probe(path)["streams"]}
    assert count_packets(path) == 90
    video, audio = streams["video"], streams["audio"]
    assert (video["width"], video["height"], video["r_frame_rate"]) == (160, 90, "30/1")
    assert video["codec_name"] == "h264" and video["pix_fmt"] == "yuv420p"
    assert (audio["codec_name"], int(audio["sample_rate"]), audio["channels"]) == ("aac", 44100, 2)
    frames = [np.frombuffer(f, np.uint8).reshape(90, 160, 3) for f in iter_rgb_frames(path, 160, 90)]
    assert len(frames) == 90
    # Detail in every section (the fractal, life, the pattern), and it moves every frame.
    for frame in frames[10], frames[45], frames[80]:
        assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 50
    assert all(not np.array_equal(a, b) for a, b in zip(frames, frames[1:]))
    # Cached: asked again (another process, or the next run), the same file is not remade.
    stamp = path.stat().st_mtime_ns
    assert media.source_video(160, 90, 30, 3.0) == path and path.stat().st_mtime_ns == stamp
    assert [p.name for p in (own_cache / "media").iterdir() if not p.name.startswith(".")] == [path.name]


def test_cached_files_appear_whole_or_not_at_all(own_cache: Path) -> None:
    target = own_cache / "media" / "thing.mp4"

    def fails(path: Path) -> None:
        path.write_bytes(b"half a file")
        raise RuntimeError("ffmpeg died")

    with pytest.raises(RuntimeError, match="ffmpeg died"):
        cache.cached_file(target, fails)
    assert not target.exists() and not [p for p in target.parent.iterdir() if "partial" in p.name]
    made: list[Path] = []

    def writes(path: Path) -> None:
        made.append(path)
        path.write_bytes(b"whole")

    assert cache.cached_file(target, writes) == target
    assert target.read_bytes() == b"whole" and made[0] != target  # written aside, then renamed
    assert cache.cached_file(target, fails) == target  # there: never made again


def test_music_is_a_stereo_track_of_the_asked_length(own_cache: Path) -> None:
    path = media.music(2.5)
    audio = probe(path)["streams"][0]
    assert (audio["codec_type"], audio["codec_name"], audio["channels"]) == ("audio", "aac", 2)
    assert float(audio["duration"]) == pytest.approx(2.5, abs=0.05)


def test_fonts_come_with_matplotlib() -> None:
    for path in (fonts.regular(), fonts.bold()):
        assert Path(path).is_file() and Path(path).suffix == ".ttf"
    with pytest.raises(FileNotFoundError, match="ships no font"):
        fonts.font_path("NoSuchFont.ttf")


# ---------------------------------------------------------------------------------------------
# edit and captions

TINY_EDIT: dict[str, Any] = {"width": 160, "height": 90, "fps": 30, "duration": 1.5, "source_seconds": 4.0}


def test_edit_cuts_from_all_over_the_source_with_sound_and_music() -> None:
    clip = edit.make(**TINY_EDIT)
    try:
        assert tuple(clip.size) == (160, 90) and clip.fps == 30 and clip.duration == pytest.approx(1.5)
        assert clip.mask is not None  # crossfades composed: write_videofile sends RGBA
        assert clip.audio is not None and clip.audio.duration == pytest.approx(1.5)
        timeline = Timeline.for_clip(clip)
        frames = [frame_rgb(clip, timeline.time(i)) for i in range(timeline.frames)]
        assert timeline.frames == 45
        assert all(not np.array_equal(a, b) for a, b in zip(frames, frames[1:]))
    finally:
        clip.close()
    starts = edit.cut_starts(24.0, 2.5, 4, 1 / 30)
    assert len(set(starts)) == 4 and starts != sorted(starts)  # out of order, as edits jump
    assert min(starts) < 8 and max(starts) > 16  # from the first and the last third
    with pytest.raises(ValueError, match="too short"):
        edit.cut_starts(2.0, 2.5, 4, 1 / 30)


def test_edit_without_music_or_sound(tmp_path: Path) -> None:
    silent_source = make_video(tmp_path / "silent.mp4", "160x90", 4, audio=False)
    clip = edit.make(**{**TINY_EDIT, "source": str(silent_source)})
    try:
        assert clip.audio is not None  # the music alone
    finally:
        clip.close()
    clip = edit.make(**{**TINY_EDIT, "source": str(silent_source), "music": False})
    try:
        assert clip.audio is None
    finally:
        clip.close()


def test_captions_put_text_over_the_video() -> None:
    from moviepy import VideoFileClip

    kwargs: dict[str, Any] = {"width": 320, "height": 180, "fps": 30, "duration": 4.0, "source_seconds": 6.0}
    clip = captions.make(**kwargs)
    file = VideoFileClip(str(media.source_video(320, 180, 30, 6.0)), audio=False)
    try:
        assert tuple(clip.size) == (320, 180) and clip.audio is not None
        assert Timeline.for_clip(clip).frames == 120
        start = captions.START * (file.duration - 4.0 - 2 / file.fps)
        background = file.subclipped(start, start + 4.0)

        def changed(t: float) -> np.ndarray[Any, np.dtype[np.bool_]]:
            ours = frame_rgb(clip, np.float64(t)).astype(int)
            theirs = background.get_frame(t).astype(int)
            changed: np.ndarray[Any, np.dtype[np.bool_]] = np.abs(ours - theirs).max(axis=-1) > 40
            return changed

        title = changed(0.5)  # the title and its subtitle, centred
        assert title[50:130, 40:280].mean() > 0.05 and title[:30].mean() < 0.01
        later = changed(2.0)  # the lower third slid in; a subtitle at the bottom
        assert later[112:140, 10:60].mean() > 0.5
        assert later[150:, 40:280].mean() > 0.03 and later[:100].mean() < 0.01
    finally:
        clip.close()
        file.close()


# ---------------------------------------------------------------------------------------------
# Presets


def test_every_workload_exists_at_every_preset(tmp_path: Path) -> None:
    for name in presets.NAMES:
        for preset in presets.PRESETS:
            if name in ("edit", "captions") and preset != "smoke":
                continue  # full-HD sources: minutes to make; their sizes are checked below
            load = presets.workload(name, preset, lambda: tmp_path)
            assert load.source is not None, load.unavailable
    for preset, seconds in (("full", 4.0), ("exhaustive", 10.0)):
        for name in ("edit", "captions"):
            kwargs = presets._CLIPS[name, preset].kwargs
            assert (kwargs["width"], kwargs["height"], kwargs["fps"], kwargs["duration"]) == (1920, 1080, 30, seconds)
    with pytest.raises(KeyError, match="unknown workload 'nope'"):
        presets.workload("nope", "full", lambda: tmp_path)


def test_latex_explainer_without_latex_is_unavailable_with_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    load = presets.workload("explainer-tex", "smoke", lambda: tmp_path)
    assert load.source is None
    assert "latex and dvisvgm not found" in str(load.unavailable)
    assert "texlive-latex-base texlive-latex-extra dvisvgm" in str(load.unavailable)


def test_latex_explainer_scenes_use_latex() -> None:
    from impls.manim.preflight import latex_users, parse_script

    tree = parse_script(explainer_tex.script_path())
    for scene in explainer_tex.SCENES:
        assert latex_users(tree, (scene,)), scene
    assert set(explainer_tex.NARRATION_SECONDS) == set(explainer_tex.SCENES)
