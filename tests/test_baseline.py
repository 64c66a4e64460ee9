"""The baseline renderer: MoviePy's own write_videofile, atomic, with early errors."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from harness.validate import probe_video
from impls import (
    ClipSource,
    EncoderSpec,
    InvalidJob,
    InvalidSource,
    ManimSource,
    RenderJob,
    Renderer,
    get_renderer,
)
from impls.ffmpeg.probe import count_packets
from impls.ffmpeg.tools import ffmpeg_binary
from tests.renders import TINY_FRAME_INDEX, BaselineRenders

FRAME_INDEX = "harness.workloads.frame_index:make"

# ---------------------------------------------------------------------------------------------
# Factories (imported by name, as every renderer does)


def odd_clip(width: int = 161, height: int = 90) -> Any:
    from moviepy import ColorClip

    return ColorClip((width, height), (200, 10, 10)).with_duration(0.5).with_fps(10)


def failing_clip(fail_at: float = 0.3) -> Any:
    """A clip with audio whose frame function raises part-way through."""
    from moviepy import AudioClip, VideoClip

    def frame(t: float) -> np.ndarray[Any, np.dtype[np.uint8]]:
        if t >= fail_at:
            raise ZeroDivisionError(f"user code failed at t={t}")
        return np.full((32, 32, 3), 128, np.uint8)

    clip = VideoClip(frame, duration=1.0).with_fps(10)
    return clip.with_audio(AudioClip(lambda t: 0.1 * np.sin(440 * t), duration=1.0, fps=44100))


def endless_clip() -> Any:
    from moviepy import VideoClip

    return VideoClip(lambda t: np.zeros((8, 8, 3), np.uint8)).with_fps(10)


def empty_clip() -> Any:
    from moviepy import ColorClip

    return ColorClip((8, 8), (0, 0, 0)).with_duration(0).with_fps(10)


def not_a_clip() -> Any:
    return np.zeros((8, 8, 3))


def factory(name: str) -> str:
    return f"{__name__}:{name}"


def baseline() -> Renderer:
    return get_renderer("baseline")


def scratch_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("renderbench-baseline-*")}


@pytest.fixture
def own_temp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp root of this test's own: the machine's is shared with other processes' renders."""
    root = tmp_path_factory.mktemp("temp")
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


# ---------------------------------------------------------------------------------------------
# Rendering


@pytest.mark.parametrize("workload", ["slideshow", "frame_index"])
def test_baseline_renders_the_workloads(baseline_renders: BaselineRenders, workload: str) -> None:
    render = getattr(baseline_renders, workload)
    result = render.result
    assert result.renderer == "baseline"
    assert result.output == render.path and render.path.is_file()
    assert result.frames == render.timeline.frames == count_packets(render.path)
    assert result.fps == render.timeline.rate
    assert result.duration == render.timeline.video_duration
    assert result.wall > 0 and result.stages["write_videofile"] > 0
    assert result.info["ffmpeg"] == ffmpeg_binary()
    assert probe_video(render.path).audio_codec == "aac"
    assert sorted(p.name for p in render.path.parent.iterdir() if p.name.startswith(".")) == []


def test_progress_reports_every_frame_once(tmp_path: Path) -> None:
    done: list[int] = []
    job = RenderJob(
        source=ClipSource(FRAME_INDEX, {**TINY_FRAME_INDEX, "audio": False}),
        output=tmp_path / "out.mp4",
        encoder=EncoderSpec(preset="ultrafast"),
        progress=done.append,
    )
    result = baseline().render(job)
    assert sum(done) == result.frames == 30
    assert all(n > 0 for n in done)


@pytest.mark.usefixtures("own_temp")
def test_audio_can_be_left_out_and_nothing_lands_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MoviePy writes its temporary audio file into the working directory unless told otherwise.
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    before = scratch_dirs()
    source = ClipSource(FRAME_INDEX, TINY_FRAME_INDEX)
    with_audio = baseline().render(RenderJob(source=source, output=tmp_path / "a.mp4", encoder=EncoderSpec(preset="ultrafast")))
    without = baseline().render(
        RenderJob(source=source, output=tmp_path / "b.mp4", encoder=EncoderSpec(preset="ultrafast"), audio=False)
    )
    assert probe_video(with_audio.output).audio_codec == "aac"
    assert probe_video(without.output).audio_codec is None
    assert list(cwd.iterdir()) == []
    assert scratch_dirs() == before


@pytest.mark.usefixtures("own_temp")
def test_failed_render_leaves_an_existing_output_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"the previous, good video")
    before_dirs, before_children = scratch_dirs(), {p.pid for p in psutil.Process().children(recursive=True)}
    job = RenderJob(source=ClipSource(factory("failing_clip")), output=out, encoder=EncoderSpec(preset="ultrafast"))

    with pytest.raises(ZeroDivisionError, match="user code failed at t=0.3"):
        baseline().render(job)

    assert out.read_bytes() == b"the previous, good video"
    assert sorted(tmp_path.iterdir()) == [out]  # no partial file, no temporary audio
    assert scratch_dirs() == before_dirs
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before_children


# ---------------------------------------------------------------------------------------------
# Bad input: a named error before anything is written


@pytest.mark.parametrize(
    ("source", "error", "message"),
    [
        (ClipSource("renderbench_missing_pkg.clips:make"), InvalidSource, "cannot import factory module"),
        (ClipSource(factory("not_a_clip")), InvalidSource, "returned ndarray, not a MoviePy VideoClip"),
        (ClipSource(factory("endless_clip")), InvalidSource, "has duration None"),
        (ClipSource(factory("empty_clip")), InvalidSource, "has duration 0"),
        (ClipSource(factory("odd_clip")), InvalidJob, "frame size 161x90 is odd, which yuv420p cannot encode"),
        (ClipSource(factory("odd_clip"), {"width": 160, "height": 91}), InvalidJob, "160x91 is odd"),
    ],
    ids=["not-importable", "not-a-clip", "duration-none", "duration-zero", "odd-width", "odd-height"],
)
def test_bad_sources_fail_early(tmp_path: Path, source: ClipSource, error: type[Exception], message: str) -> None:
    job = RenderJob(source=source, output=tmp_path / "out.mp4")
    with pytest.raises(error, match=message):
        baseline().render(job)
    assert list(tmp_path.iterdir()) == []


def test_baseline_cannot_change_moviepys_pix_fmt(tmp_path: Path) -> None:
    job = RenderJob(
        source=ClipSource(FRAME_INDEX, TINY_FRAME_INDEX),
        output=tmp_path / "out.mp4",
        encoder=EncoderSpec(pix_fmt="yuv444p"),
    )
    with pytest.raises(InvalidJob, match="always writes yuv420p with libx264"):
        baseline().render(job)
    assert list(tmp_path.iterdir()) == []


def test_baseline_renders_clips_only(tmp_path: Path) -> None:
    source = ManimSource(tmp_path / "scenes.py", ("Intro",))
    assert not baseline().supports(source)
    assert baseline().supports(ClipSource(FRAME_INDEX))
    with pytest.raises(InvalidJob, match="ClipSource"):
        baseline().render(RenderJob(source=source, output=tmp_path / "out.mp4"))
