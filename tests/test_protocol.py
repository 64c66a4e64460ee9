"""The shared protocol: sources, encoder specs, jobs, exact rates and the frame timeline."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from impls import ClipSource, EncoderSpec, InvalidJob, InvalidSource, ManimSource, RenderJob
from impls.model.protocol import exact_fps
from impls.model.timeline import Timeline

# ---------------------------------------------------------------------------------------------
# Factories for ClipSource tests (imported by name, as a worker would)


def not_a_clip() -> Any:
    return "a string"


def endless_clip() -> Any:
    from moviepy import VideoClip

    return VideoClip(lambda t: np.zeros((8, 8, 3), np.uint8))  # no duration


def empty_clip() -> Any:
    from moviepy import ColorClip

    return ColorClip((8, 8), (0, 0, 0)).with_duration(0)


def small_clip(seconds: float = 0.5) -> Any:
    from moviepy import ColorClip

    return ColorClip((8, 8), (10, 20, 30)).with_duration(seconds).with_fps(10)


NOT_CALLABLE = 42


def factory(name: str) -> str:
    return f"{__name__}:{name}"


# ---------------------------------------------------------------------------------------------
# ClipSource


def test_clip_source_builds_the_clip_with_kwargs() -> None:
    clip = ClipSource(factory("small_clip"), {"seconds": 0.3}).load()
    assert clip.duration == pytest.approx(0.3)
    clip.close()


@pytest.mark.parametrize("text", ["no_colon", ":func", "module:", ""], ids=["no-colon", "no-module", "no-attr", "empty"])
def test_clip_source_needs_module_colon_function(text: str) -> None:
    with pytest.raises(InvalidSource, match="pkg.module:function"):
        ClipSource(text)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("renderbench_no_such_module:make", "cannot import factory module 'renderbench_no_such_module'"),
        (factory("no_such_function"), "has no attribute 'no_such_function'"),
        (factory("NOT_CALLABLE"), "is not callable"),
        (factory("not_a_clip"), "returned str, not a MoviePy VideoClip"),
        (factory("endless_clip"), "has duration None; it needs a finite duration > 0"),
        (factory("empty_clip"), "has duration 0; it needs a finite duration > 0"),
    ],
    ids=["module-missing", "attr-missing", "not-callable", "not-a-clip", "duration-none", "duration-zero"],
)
def test_clip_source_errors_name_the_problem(name: str, message: str) -> None:
    with pytest.raises(InvalidSource, match=message.replace("(", r"\(").replace(")", r"\)")):
        ClipSource(name).load()


def test_manim_source_checks_its_fields(tmp_path: Path) -> None:
    with pytest.raises(InvalidSource, match="at least one scene"):
        ManimSource(tmp_path / "s.py", ())
    with pytest.raises(InvalidSource, match="unknown manim quality"):
        ManimSource(tmp_path / "s.py", ("A",), quality="x")
    with pytest.raises(InvalidSource, match="scenes not rendered"):
        ManimSource(tmp_path / "s.py", ("A",), audio={"B": tmp_path / "b.wav"})


# ---------------------------------------------------------------------------------------------
# EncoderSpec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("libx264", EncoderSpec(codec="libx264")),
        ("libx264:veryfast:18", EncoderSpec(codec="libx264", preset="veryfast", crf=18)),
        ("libx265::28", EncoderSpec(codec="libx265", crf=28)),
        ("mpeg4:-:-", EncoderSpec(codec="mpeg4", preset=None, crf=None)),
        ("libx264:medium:0", EncoderSpec.lossless()),
    ],
    ids=["codec-only", "all-parts", "default-preset", "dashes-mean-none", "lossless"],
)
def test_encoder_spec_parse(text: str, expected: EncoderSpec) -> None:
    spec = EncoderSpec.parse(text)
    assert spec == expected
    assert EncoderSpec.parse(spec.label) == spec


@pytest.mark.parametrize("text", ["", ":fast", "a:b:1:extra", "libx264:fast:high"])
def test_encoder_spec_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(InvalidJob, match="encoder"):
        EncoderSpec.parse(text)


@pytest.mark.parametrize(
    ("spec", "lossless"),
    [
        (EncoderSpec.lossless(), True),
        (EncoderSpec(), False),
        (EncoderSpec(crf=0, bitrate="1M"), False),
        (EncoderSpec(crf=0, pix_fmt="yuv420p10le"), False),  # x264 crf 0 is lossless at 8 bits only
        (EncoderSpec(codec="libx265", crf=0), False),  # x265 crf 0 is not lossless
        (EncoderSpec(codec="libx265", crf=None, extra=("-x265-params", "lossless=1")), True),
        (EncoderSpec(codec="mpeg4", crf=0), False),
    ],
    ids=["x264-crf0", "x264-crf23", "bitrate", "x264-10bit", "x265-crf0", "x265-lossless", "mpeg4"],
)
def test_encoder_spec_losslessness(spec: EncoderSpec, lossless: bool) -> None:
    assert spec.is_lossless is lossless


@pytest.mark.parametrize(
    ("pix_fmt", "alpha"),
    [("yuv420p", False), ("yuva420p", True), ("rgba", True), ("gbrap10le", True), ("gray", False),
     ("pal8", False), ("rgb24", False), ("ya8", True)],
    ids=str,
)  # fmt: skip
def test_encoder_spec_alpha(pix_fmt: str, alpha: bool) -> None:
    assert EncoderSpec(pix_fmt=pix_fmt).has_alpha is alpha


@pytest.mark.parametrize(("width", "height"), [(161, 90), (160, 91)], ids=["odd-width", "odd-height"])
def test_odd_size_with_yuv420p_is_rejected(width: int, height: int) -> None:
    with pytest.raises(InvalidJob, match=rf"frame size {width}x{height} is odd, which yuv420p cannot encode"):
        EncoderSpec().check_size(width, height)
    EncoderSpec(pix_fmt="yuv444p").check_size(width, height)  # no subsampling: fine


# ---------------------------------------------------------------------------------------------
# Exact rates


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (29.97, Fraction(30000, 1001)),
        (23.976, Fraction(24000, 1001)),
        (59.94, Fraction(60000, 1001)),
        (30000 / 1001, Fraction(30000, 1001)),
        ("30000/1001", Fraction(30000, 1001)),
        (Fraction(30000, 1001), Fraction(30000, 1001)),
        (30, Fraction(30)),
        (25.0, Fraction(25)),
        (12.5, Fraction(25, 2)),
        (np.float32(29.97), Fraction(30000, 1001)),
        (np.int64(24), Fraction(24)),
    ],
    ids=["29.97", "23.976", "59.94", "ntsc-float", "ntsc-string", "fraction", "int", "float-int", "half",
         "np-float32", "np-int64"],  # fmt: skip
)
def test_exact_fps(value: Any, expected: Fraction) -> None:
    assert exact_fps(value) == expected


@pytest.mark.parametrize(
    "value", [0, -30, 0.0, math.nan, math.inf, "abc", "1/0", True, None, [30]], ids=str
)
def test_exact_fps_rejects_non_rates(value: Any) -> None:
    with pytest.raises(InvalidJob, match="fps"):
        exact_fps(value)


# ---------------------------------------------------------------------------------------------
# RenderJob


def _job(**kwargs: Any) -> RenderJob:
    return RenderJob(source=ClipSource(factory("small_clip")), output=Path("out.mp4"), **kwargs)


@pytest.mark.parametrize("workers", [0, -2, 1.5, True], ids=["zero", "negative", "float", "bool"])
def test_workers_below_one_are_rejected(workers: Any) -> None:
    with pytest.raises(InvalidJob, match="workers must be an integer >= 1"):
        _job(workers=workers)


@pytest.mark.parametrize("fps", [0, -24, math.nan], ids=["zero", "negative", "nan"])
def test_job_fps_must_be_positive_and_finite(fps: float) -> None:
    with pytest.raises(InvalidJob, match="fps"):
        _job(fps=fps)


def test_job_keeps_fps_exact_and_accepts_a_factory_string() -> None:
    job = RenderJob(source=factory("small_clip"), output="out.mp4", fps=29.97)  # type: ignore[arg-type]
    assert job.fps == Fraction(30000, 1001)
    assert job.source == ClipSource(factory("small_clip"))
    assert job.output == Path("out.mp4")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"executor": "threads"}, "executor"), ({"timeout": 0}, "timeout"), ({"retries": -1}, "retries")],
    ids=["executor", "timeout", "retries"],
)
def test_job_rejects_other_bad_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidJob, match=message):
        _job(**kwargs)


# ---------------------------------------------------------------------------------------------
# Timeline


def test_frame_count_truncates_like_moviepy() -> None:
    assert Timeline.of(123 / 30, 30).frames == 122  # 123/30 * 30 == 122.99999999999999
    assert Timeline.of(2.0, 30).frames == 60


@pytest.mark.parametrize("fps", [30, 24, 29.97, 30000 / 1001, 12.5], ids=str)
def test_times_are_numpy_float64_like_iter_frames(fps: float) -> None:
    timeline = Timeline.of(1.0, fps)
    expected = np.arange(0, int(1.0 * fps)) / fps  # MoviePy's iter_frames
    assert timeline.frames == len(expected)
    for i in range(timeline.frames):
        t = timeline.time(i)
        assert type(t) is np.float64
        assert t == expected[i]  # bit-for-bit, not approximately


def test_ntsc_rate_stays_exact() -> None:
    timeline = Timeline.of(2.0, Fraction(30000, 1001))
    assert timeline.rate == Fraction(30000, 1001)
    assert timeline.frames == 59
    assert timeline.video_duration == float(Fraction(59 * 1001, 30000))
    snapped = Timeline.of(2.0, 29.97)
    assert snapped.rate == Fraction(30000, 1001)
    assert snapped.clock_fps == 29.97  # MoviePy divides by the number as given


def test_time_outside_the_timeline_is_an_error() -> None:
    timeline = Timeline.of(1.0, 10)
    with pytest.raises(IndexError):
        timeline.time(10)
    with pytest.raises(IndexError):
        timeline.time(-1)


def test_a_timeline_without_frames_is_rejected() -> None:
    with pytest.raises(InvalidSource, match="gives no frame"):
        Timeline.of(0.01, 30)


@pytest.mark.parametrize(("frames", "parts"), [(10, 3), (10, 1), (3, 8), (122, 7)], ids=str)
def test_split_covers_every_frame_once_in_order(frames: int, parts: int) -> None:
    timeline = Timeline.of(frames / 10 + 1e-9, 10)
    assert timeline.frames == frames
    ranges = timeline.split(parts)
    assert [i for r in ranges for i in r] == list(range(frames))
    assert len(ranges) == min(parts, frames)
    sizes = [len(r) for r in ranges]
    assert max(sizes) - min(sizes) <= 1
