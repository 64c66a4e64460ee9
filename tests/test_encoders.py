"""The encoder dimension: specs, containers, absent encoders, the cheap-frame workload and the
encode-bound limit, and one plugin run over x265, VP9 and ProRes on a tiny gradient.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness import matrix
from harness.encode_limit import EncodeLimits, measure
from harness.matrix import Case
from harness.references import output_suffix
from harness.workloads import GRADIENT, gradient, presets
from impls.errors import InvalidJob
from impls.model.protocol import ClipSource, EncoderSpec
from impls.model.timeline import Timeline

pytest_plugins = ["pytester"]

TINY_GRADIENT = {"width": 128, "height": 72, "fps": 30, "duration": 2.0}
VP9 = "libvpx-vp9:-:32:deadline=realtime+cpu-used=8"

# ---------------------------------------------------------------------------------------------
# Specs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("libx264:veryfast:23", EncoderSpec(preset="veryfast", crf=23)),
        ("libx264:slow:18", EncoderSpec(preset="slow", crf=18)),
        ("libx265:medium:28", EncoderSpec(codec="libx265", preset="medium", crf=28)),
        (VP9, EncoderSpec(codec="libvpx-vp9", preset=None, crf=32, extra=("-deadline", "realtime", "-cpu-used", "8"))),
        ("libvpx-vp9::31:speed=6+row-mt=1", EncoderSpec(codec="libvpx-vp9", preset=None, crf=31, extra=("-speed", "6", "-row-mt", "1"))),
        ("prores_ks", EncoderSpec(codec="prores_ks", preset=None, crf=None, pix_fmt="yuv422p10le")),
        ("prores_ks:-:-:profile=3", EncoderSpec(codec="prores_ks", preset=None, crf=None, pix_fmt="yuv422p10le", extra=("-profile", "3"))),
        ("libx264:fast:20:pix_fmt=yuv444p+threads=2+bitrate=3M",
         EncoderSpec(preset="fast", crf=20, pix_fmt="yuv444p", threads=2, bitrate="3M")),
        ("libx264:medium:23:movflags=+faststart", EncoderSpec(extra=("-movflags", "+faststart"))),
        ("libx265:medium:28:x265-params=log-level=error:keyint=30",
         EncoderSpec(codec="libx265", crf=28, extra=("-x265-params", "log-level=error:keyint=30"))),
        ("libx264:medium:23:args=-tune film -an", EncoderSpec(extra=("-tune", "film", "-an"))),
    ],
    ids=["x264-veryfast", "x264-slow", "x265", "vp9-realtime", "vp9-speed", "prores-defaults", "prores-profile",
         "fields", "plus-inside-a-value", "colons-inside-a-value", "raw-args"],
)  # fmt: skip
def test_parse_and_label_round_trip(text: str, expected: EncoderSpec) -> None:
    spec = EncoderSpec.parse(text)
    assert spec == expected
    assert EncoderSpec.parse(spec.label) == spec


def test_labels_of_plain_specs_are_unchanged() -> None:
    assert EncoderSpec().label == "libx264:medium:23"
    assert EncoderSpec.parse("prores_ks").label == "prores_ks:-:-"
    assert EncoderSpec(codec="prores_ks", preset=None, crf=None).label == "prores_ks:-:-:pix_fmt=yuv420p"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("libx264:medium:23:tune", "option 'tune' .* must look like name=value"),
        ("libx264:medium:23:=film", "option '=film'"),
        ("libx264:medium:23:threads=many", "threads in encoder"),
        ("libx264:medium:high", "crf in encoder"),
    ],
    ids=["no-value", "no-name", "threads", "crf"],
)
def test_malformed_specs_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidJob, match=message):
        EncoderSpec.parse(text)


@pytest.mark.parametrize(
    ("text", "suffix"),
    [("libx264:medium:23", ".mp4"), ("libx265:medium:28", ".mp4"), (VP9, ".mp4"), ("prores_ks", ".mov"),
     ("libvpx", ".mkv")],
    ids=["x264", "x265", "vp9", "prores", "vp8"],
)  # fmt: skip
def test_output_container_per_codec(text: str, suffix: str) -> None:
    assert output_suffix(EncoderSpec.parse(text)) == suffix


@pytest.mark.parametrize("text", ["h264_nvenc:p4:-", "nosuchcodec"], ids=["nvenc", "unknown"])
def test_absent_encoders_give_a_reason(text: str) -> None:
    spec = EncoderSpec.parse(text)
    reason = matrix.encoder_problem(spec)
    if reason is None:
        pytest.skip(f"{text} really encodes on this machine")
    assert reason.startswith(f"{spec.label}: encoder '{spec.codec}' is not available in this ffmpeg")


# ---------------------------------------------------------------------------------------------
# The cheap-frame workload


def test_gradient_frames_are_cheap_moving_and_what_the_clip_shows() -> None:
    base = gradient.base_frame(64, 36)
    frames = [gradient.draw(i, base) for i in range(300)]
    assert all(f.shape == (36, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert all(not np.array_equal(a, b) for a, b in zip(frames, frames[1:]))
    assert np.array_equal(frames[5], (base.astype(np.int64) + gradient.STEP.astype(np.int64) * 5) % 256)
    clip = gradient.make(64, 36, fps=30, duration=1.0)
    timeline = Timeline.for_clip(clip)
    assert timeline.frames == 30 and clip.audio is None and clip.mask is None
    assert np.array_equal(clip.get_frame(timeline.time(7)), frames[7])
    with pytest.raises(ValueError, match="at least 2x2"):
        gradient.make(1, 36)


def test_gradient_is_registered_for_both_presets(tmp_path: Path) -> None:
    for preset, size in (("smoke", (320, 180)), ("full", (1920, 1080))):
        load = presets.workload("gradient", preset, lambda: tmp_path)
        assert load.encode_limit and load.mode == "auto"
        assert isinstance(load.source, ClipSource) and load.source.factory == GRADIENT
        assert (load.source.kwargs["width"], load.source.kwargs["height"]) == size
    assert not presets.workload("slideshow", "smoke", lambda: tmp_path).encode_limit


# ---------------------------------------------------------------------------------------------
# The encode-bound limit


def test_encode_limit_measures_a_positive_fps_and_leaves_nothing(tmp_path: Path) -> None:
    source = ClipSource(GRADIENT, TINY_GRADIENT)
    output = tmp_path / "limit.mp4"
    limit = measure(source, EncoderSpec(preset="ultrafast", crf=23), output, rounds=2)
    assert limit.frames == 60 and len(limit.walls) == 2
    assert limit.fps > 0 and limit.fps == pytest.approx(60 / limit.wall)
    assert list(tmp_path.iterdir()) == []


def _case(encoder: EncoderSpec, workload: str = "gradient") -> Case:
    return Case("chunk", 2, encoder, workload, "smoke", source=ClipSource(GRADIENT, TINY_GRADIENT))


def test_encode_limits_take_a_sample_after_every_case_and_note_failures(tmp_path: Path) -> None:
    limits = EncodeLimits(lambda: tmp_path, rounds=2, wanted=lambda case: case.workload == "gradient")
    fast = EncoderSpec(preset="ultrafast", crf=23)
    first = limits.for_case(_case(fast))  # the group's first case: `rounds` samples
    assert first is not None and first.fps > 0 and len(first.walls) == 2
    second = limits.for_case(_case(fast))  # every later case: one more
    assert second is not None and second.walls[:2] == first.walls and len(second.walls) == 3
    assert limits.limit(_case(fast).group) == second and second.fps > 0
    assert limits.for_case(_case(fast, workload="slideshow")) is None  # not a cheap-frame workload
    broken = _case(EncoderSpec(codec="nosuchcodec"))
    assert limits.for_case(broken) is None and limits.for_case(broken) is None  # tried once
    assert len(limits.errors) == 1 and "encode-bound limit of gradient smoke nosuchcodec:medium:23" in limits.errors[0]
    assert limits.limit(broken.group) is None
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Through the plugin (renders in a subprocess: process pools do not survive pytester's in-process
# runs, which drop and re-import the multiprocessing modules between runs)

MODULE = """
import pytest
from harness.workloads import GRADIENT
from impls.model.protocol import ClipSource

@pytest.mark.renderbench(source=ClipSource(GRADIENT, {kwargs}), workload="grad", renderers="chunk",
                         workers=[2], encode_limit=True)
def test_render(renderbench_case, render_and_measure):
    render_and_measure(renderbench_case)
"""


@pytest.fixture
def gradient_module(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_grad=MODULE.replace("{kwargs}", repr(TINY_GRADIENT)))
    return pytester


def _case_ids(result: pytest.RunResult) -> list[str]:
    return [line.split("[", 1)[1].rstrip("]") for line in result.stdout.lines if line.startswith("test_grad.py::")]


def test_encoders_from_the_ini_and_the_command_line_wins(gradient_module: pytest.Pytester) -> None:
    gradient_module.makeini(f"[pytest]\nrenderbench_encoders = libx264:ultrafast:23, {VP9}\n")
    result = gradient_module.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
    assert _case_ids(result) == [
        "baseline-w1-libx264:ultrafast:23-grad", "chunk-w2-libx264:ultrafast:23-grad",
        f"baseline-w1-{VP9}-grad", f"chunk-w2-{VP9}-grad",
    ]  # fmt: skip
    result = gradient_module.runpytest(
        "--collect-only", "-q", "-p", "no:cacheprovider", "--renderbench-encoders=prores_ks"
    )
    assert _case_ids(result) == ["baseline-w1-prores_ks:-:--grad", "chunk-w2-prores_ks:-:--grad"]


def test_malformed_encoder_option_is_a_usage_error(gradient_module: pytest.Pytester) -> None:
    result = gradient_module.runpytest("--renderbench-encoders=libx264:medium:23:tune")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*renderbench encoders: option 'tune' of encoder 'libx264:medium:23:tune' must look like name=value*"])


def test_absent_encoder_cases_are_skipped_with_the_reason(gradient_module: pytest.Pytester) -> None:
    nvenc = EncoderSpec.parse("h264_nvenc:p4:-")
    reason = matrix.encoder_problem(nvenc)
    if reason is None:
        pytest.skip("h264_nvenc really encodes on this machine")
    result = gradient_module.runpytest("-rs", "-p", "no:cacheprovider", f"--renderbench-encoders={nvenc.label}")
    result.stdout.fnmatch_lines([f"*SKIPPED [[]2[]]*{nvenc.label}: encoder 'h264_nvenc' is not available in this ffmpeg*"])
    assert result.parseoutcomes() == {"skipped": 2}


def _infos(path: Path) -> dict[str, dict[str, Any]]:
    data = json.loads(path.read_text())
    return {f"{b['extra_info']['renderer']}-{b['extra_info']['encoder']}": b["extra_info"] for b in data["benchmarks"]}


def test_every_encoder_gets_quality_bitrate_and_the_encode_limit(gradient_module: pytest.Pytester) -> None:
    encoders = ["libx264:medium:23", "libx265:medium:28", VP9, "prores_ks"]
    result = gradient_module.runpytest_subprocess(
        "-p", "no:cacheprovider", "--renderbench-rounds=1", f"--renderbench-encoders={','.join(encoders)}",
        "--benchmark-json=out.json", "--renderbench-results-dir=res",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    assert result.parseoutcomes() == {"passed": 8}
    infos = _infos(gradient_module.path / "out.json")
    assert len(infos) == 8
    limits: dict[str, float] = {}
    for key, info in infos.items():
        assert info["valid"], (key, info["problems"])
        assert 20 < info["psnr"] < 100 and 0.5 < info["ssim"] < 1.0, key
        assert info["bitrate"] > 0
        assert info["encode_limit_fps"] > 0
        assert info["encode_limit_fraction"] == pytest.approx(info["fps"] / info["encode_limit_fps"])
        limits.setdefault(info["encoder"], info["encode_limit_fps"])
        assert info["encode_limit_fps"] == limits[info["encoder"]]  # one limit per encoder
    # The chunked encode of the same frames is as good as the whole one (2 chunks here).
    for encoder in ("libx264:medium:23", VP9, "prores_ks:-:-"):
        assert infos[f"chunk-{encoder}"]["psnr"] == pytest.approx(infos[f"baseline-{encoder}"]["psnr"], abs=0.5)
    report = (gradient_module.path / "res" / "report.md").read_text()
    assert "## Speed and quality" in report and "fastest setting within 0.5 dB of libx264:medium:23" in report
    assert "## Encode-bound limit" in report and "- grad (custom, prores_ks:-:-): ffmpeg alone encodes it at" in report
    assert (gradient_module.path / "res" / "plots" / "grad-custom-frontier.png").is_file()
    assert "(plots/grad-custom-frontier.png)" in report
    result.stdout.fnmatch_lines(["grad (custom): fastest setting within 0.5 dB of libx264:medium:23*",
                                 "encode-bound limit: grad (custom, *): ffmpeg alone encodes it at *"])  # fmt: skip


def test_lossless_outputs_score_as_identical_end_to_end(gradient_module: pytest.Pytester) -> None:
    result = gradient_module.runpytest_subprocess(
        "-p", "no:cacheprovider", "--renderbench-rounds=1", "--renderbench-lossless", "--benchmark-json=out.json",
        "--renderbench-results-dir=res",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    for info in _infos(gradient_module.path / "out.json").values():
        assert (info["psnr"], info["ssim"]) == (100.0, 1.0)  # ffmpeg's inf, capped for JSON

