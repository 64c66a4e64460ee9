"""Validation: right facts for good files, a named problem for every kind of broken file."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import pytest

from harness.decode import framemd5
from harness.validate import (
    DURATION_TOLERANCE,
    Expectation,
    ValidationReport,
    decode_indices,
    moviepy_rate,
    probe_video,
    psnr,
    validate,
)
from harness.workloads import FRAME_INDEX
from impls import ClipSource, EncoderSpec, RenderJob, ToolNotFound, ValidationFailed
from impls.ffmpeg.process import run
from impls.model.timeline import Timeline
from tests.renders import BaselineRender, BaselineRenders, render_baseline

# Lossless re-encoding of decoded yuv420p frames: a file derived this way decodes to exactly
# the frames it was made from, so only the deliberate defect differs.
LOSSLESS = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "0", "-pix_fmt", "yuv420p"]


def derive(
    source: Path, output: Path, args: Sequence[str], input_args: Sequence[str] = ()
) -> Path:
    run(
        ["-loglevel", "error", "-y", *input_args, "-i", str(source), *args, str(output)],
        f"making test file {output.name}",
    )
    return output


def expectation(render: BaselineRender) -> Expectation:
    return Expectation.for_job(
        render.job, render.timeline, render.size, render.audio, renderer="baseline"
    )


def swap_10_11(frames: int) -> str:
    order = list(range(frames))
    order[10], order[11] = order[11], order[10]
    return "shuffleframes=" + " ".join(map(str, order))


# ---------------------------------------------------------------------------------------------
# Good files


@pytest.mark.parametrize("workload", ["slideshow", "frame_index"])
def test_baseline_output_facts_are_right(baseline_renders: BaselineRenders, workload: str) -> None:
    render: BaselineRender = getattr(baseline_renders, workload)
    facts = probe_video(render.path)

    assert facts.frames == render.timeline.frames == render.result.frames
    assert facts.rate == render.timeline.rate
    assert (facts.width, facts.height) == render.size
    assert (facts.codec, facts.pix_fmt) == ("h264", "yuv420p")
    assert facts.duration == pytest.approx(render.timeline.video_duration, abs=1e-6)
    assert facts.audio_codec == "aac"
    assert facts.size_bytes == render.path.stat().st_size

    report = validate(render.path, expectation(render), reference=render.path)
    assert report.ok, report.problems
    assert report.fidelity == "exact"


@pytest.mark.parametrize(
    ("duration", "fps"),
    [(0.99, 24), (0.7, 30000 / 1001), (0.53, 25)],
    ids=["24fps-short-tail", "ntsc", "25fps"],
)
def test_baseline_audio_and_rate_pass_at_awkward_durations(
    tmp_path: Path, duration: float, fps: float
) -> None:
    # The audio lasts the clip's duration, the video int(duration * fps) frames: the audio
    # tolerance must accept what MoviePy itself writes, at any rate.
    source = ClipSource(
        FRAME_INDEX, {"width": 64, "height": 64, "fps": fps, "duration": duration, "audio": True}
    )
    render = render_baseline(source, tmp_path / "out.mp4", EncoderSpec(preset="ultrafast"))
    facts = probe_video(render.path)
    assert facts.frames == int(duration * fps)
    assert facts.rate == moviepy_rate(fps)
    assert facts.audio_duration is not None and facts.audio_duration > facts.duration

    report = validate(render.path, expectation(render), mode="index")
    assert report.ok, report.problems


def test_lossless_rederived_copy_is_exact(baseline_renders: BaselineRenders, tmp_path: Path) -> None:
    # The control for every broken file below: re-encoding alone changes nothing.
    render = baseline_renders.frame_index
    copy = derive(render.path, tmp_path / "copy.mp4", [*LOSSLESS, "-c:a", "copy"])
    report = validate(copy, expectation(render), reference=render.path)
    assert report.ok, report.problems
    assert framemd5(copy) == framemd5(render.path)


def test_index_mode_passes_on_a_lossy_baseline(baseline_renders: BaselineRenders) -> None:
    render = baseline_renders.frame_index_lossy
    assert decode_indices(render.path) == list(range(render.timeline.frames))
    report = validate(render.path, expectation(render), mode="index")
    assert report.ok, report.problems
    assert report.fidelity == "index"


def test_quality_mode_passes_for_an_equal_encode(baseline_renders: BaselineRenders) -> None:
    lossy, source = baseline_renders.frame_index_lossy, baseline_renders.frame_index
    report = validate(lossy.path, expectation(lossy), reference=lossy.path, source_reference=source.path)
    assert report.ok, report.problems
    assert report.fidelity == "quality"
    assert report.psnr is not None and report.psnr == report.reference_psnr
    assert math.isfinite(report.psnr)


def test_psnr_of_identical_videos_is_infinite(baseline_renders: BaselineRenders) -> None:
    path = baseline_renders.frame_index.path
    assert psnr(path, path) == math.inf


# ---------------------------------------------------------------------------------------------
# Broken files: each must fail, with a problem that names what is wrong

Maker = Callable[[Path, Path, int], Path]


def _dropped(src: Path, out: Path, frames: int) -> Path:
    chain = r"select='not(eq(n\,10))',setpts=N/FRAME_RATE/TB"
    return derive(src, out, ["-vf", chain, *LOSSLESS, "-c:a", "copy"])


def _swapped(src: Path, out: Path, frames: int) -> Path:
    return derive(src, out, ["-vf", swap_10_11(frames), *LOSSLESS, "-c:a", "copy"])


def _wrong_fps(src: Path, out: Path, frames: int) -> Path:
    # Same frames, timestamps for 25 fps: only the rate (and so the duration) is wrong.
    return derive(src, out, [*LOSSLESS, "-an"], input_args=["-r", "25"])


def _no_audio(src: Path, out: Path, frames: int) -> Path:
    return derive(src, out, ["-map", "0:v", "-c", "copy"])


BROKEN: list[tuple[str, Maker, list[str]]] = [
    ("dropped-frame", _dropped, ["has 29 frames, expected 30", "first at frame 10"]),
    ("swapped-pair", _swapped, ["first at frame 10, 2 of 30 compared frames differ"]),
    ("wrong-fps", _wrong_fps, ["frame rate is 25, expected exactly 30", "video lasts 1.2"]),
    ("missing-audio", _no_audio, ["has no audio stream, expected one"]),
]


@pytest.mark.parametrize(("maker", "fragments"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_file_fails_exact_validation(
    baseline_renders: BaselineRenders, tmp_path: Path, maker: Maker, fragments: list[str]
) -> None:
    render = baseline_renders.frame_index
    broken = maker(render.path, tmp_path / "broken.mp4", render.timeline.frames)
    report = validate(broken, expectation(render), reference=render.path)
    assert not report.ok
    text = "\n".join(report.problems)
    for fragment in fragments:
        assert fragment in text
    with pytest.raises(ValidationFailed, match="broken.mp4 is invalid") as info:
        report.raise_for_problems()
    assert list(info.value.problems) == report.problems


@pytest.mark.parametrize(
    ("maker", "fragment"),
    [(_dropped, "frame 10 shows index 11"), (_swapped, "frame 10 shows index 11 (2 of 30")],
    ids=["dropped-frame", "swapped-pair"],
)
def test_broken_order_fails_index_validation_after_lossy_encode(
    baseline_renders: BaselineRenders, tmp_path: Path, maker: Maker, fragment: str
) -> None:
    render = baseline_renders.frame_index_lossy
    broken = maker(render.path, tmp_path / "broken.mp4", render.timeline.frames)
    report = validate(broken, expectation(render), mode="index")
    assert any(fragment in problem for problem in report.problems), report.problems


def test_quality_mode_fails_for_a_worse_encode(baseline_renders: BaselineRenders, tmp_path: Path) -> None:
    lossy, source = baseline_renders.frame_index_lossy, baseline_renders.frame_index
    worse = derive(
        source.path, tmp_path / "worse.mp4",
        ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "45", "-pix_fmt", "yuv420p", "-c:a", "copy"],
    )  # fmt: skip
    report = validate(worse, expectation(lossy), reference=lossy.path, source_reference=source.path)
    assert report.psnr is not None and report.reference_psnr is not None
    assert report.psnr < report.reference_psnr - 0.5
    assert any("quality is lower than the baseline's" in p for p in report.problems)


def test_quality_mode_flags_a_much_better_encode(baseline_renders: BaselineRenders) -> None:
    # Far better than the baseline means other encoder settings: timings are not comparable.
    lossy, source = baseline_renders.frame_index_lossy, baseline_renders.frame_index
    report = validate(source.path, expectation(lossy), reference=lossy.path, source_reference=source.path)
    assert any("quality is higher than the baseline's" in p for p in report.problems)


def test_full_range_jpeg_pix_fmt_is_named(baseline_renders: BaselineRenders, tmp_path: Path) -> None:
    render = baseline_renders.frame_index
    full = derive(render.path, tmp_path / "full.mp4",
                  ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuvj420p", "-c:a", "copy"])  # fmt: skip
    report = validate(full, expectation(render))
    assert any("yuvj420p (full-range JPEG levels" in p for p in report.problems), report.problems


@pytest.mark.parametrize(
    ("audio_filter", "fragment"),
    [("atrim=end=0.9", "shorter than the video"), ("apad=pad_dur=0.2", "longer than the video")],
    ids=["audio-short", "audio-long"],
)
def test_audio_duration_out_of_tolerance_fails(
    baseline_renders: BaselineRenders, tmp_path: Path, audio_filter: str, fragment: str
) -> None:
    render = baseline_renders.frame_index
    bad = derive(render.path, tmp_path / "bad.mp4", ["-c:v", "copy", "-af", audio_filter, "-c:a", "aac"])
    report = validate(bad, expectation(render))
    assert any(fragment in p for p in report.problems), report.problems


def test_unexpected_audio_and_codec_are_reported(baseline_renders: BaselineRenders) -> None:
    render = baseline_renders.frame_index
    expect = Expectation(
        frames=render.timeline.frames, rate=render.timeline.rate, width=160, height=90,
        codec="libx265", pix_fmt="yuv420p", audio=False,
    )  # fmt: skip
    problems = validate(render.path, expect).problems
    assert "video codec is h264, expected libx265" in problems
    assert "has a aac audio stream, expected none" in problems


def test_wrong_size_is_reported_and_frames_not_compared(
    baseline_renders: BaselineRenders, tmp_path: Path
) -> None:
    render = baseline_renders.frame_index
    small = derive(render.path, tmp_path / "small.mp4", ["-vf", "scale=80:44", *LOSSLESS, "-c:a", "copy"])
    problems = validate(small, expectation(render), reference=render.path).problems
    assert "frame size is 80x44, expected 160x90" in problems
    assert any("cannot compare frames with the reference" in p for p in problems)


# ---------------------------------------------------------------------------------------------
# Unreadable files and misuse


def test_missing_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    expect = Expectation(frames=30, rate=Fraction(30), width=160, height=90)
    report = validate(tmp_path / "absent.mp4", expect)
    assert isinstance(report, ValidationReport)
    assert report.facts is None and not report.ok
    assert "does not exist" in report.problems[0]


def test_garbage_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    report = validate(garbage, Expectation(frames=1, rate=Fraction(30), width=16, height=16))
    assert report.facts is None
    assert report.problems and report.problems[0].startswith("cannot be read: ffprobe")


def test_missing_ffprobe_raises(
    baseline_renders: BaselineRenders, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RENDERBENCH_FFPROBE", str(tmp_path / "no-such-ffprobe"))
    with pytest.raises(ToolNotFound, match="ffprobe"):
        validate(baseline_renders.frame_index.path, expectation(baseline_renders.frame_index))


def test_modes_that_cannot_be_served_raise(baseline_renders: BaselineRenders) -> None:
    lossy = baseline_renders.frame_index_lossy
    with pytest.raises(ValueError, match="unknown validation mode"):
        validate(lossy.path, expectation(lossy), mode="fuzzy")
    with pytest.raises(ValueError, match="source_reference"):
        validate(lossy.path, expectation(lossy), reference=lossy.path)  # lossy vs lossy
    with pytest.raises(ValueError, match="needs a reference"):
        validate(lossy.path, expectation(lossy), mode="exact")


def test_expectation_rate_is_exact_except_for_moviepy() -> None:
    job = RenderJob(source=ClipSource(FRAME_INDEX), output=Path("out.mp4"))
    timeline = Timeline.of(2.0, 30000 / 1001)
    ours = Expectation.for_job(job, timeline, (64, 64), audio=False)
    baseline = Expectation.for_job(job, timeline, (64, 64), audio=False, renderer="baseline")
    assert ours.rate == Fraction(30000, 1001)
    assert baseline.rate == Fraction(2997, 100)  # MoviePy writes -r 29.97
    assert ours.frames == baseline.frames == 59
    assert ours.duration_tolerance == DURATION_TOLERANCE
    assert DURATION_TOLERANCE < 1 / 120 / 2  # never hides a whole frame
