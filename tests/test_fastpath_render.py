"""Renders with the fast path: lossless output equal to the baseline's, the sampled check, the
option. (The slideshow and frame_index renders of every renderer are in test_parallel.py.)"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.decode import framemd5
from impls import ClipSource, EncoderSpec, InvalidJob, RenderJob, get_renderer
from tests.renders import TINY_SLIDESHOW, BaselineRender, BaselineRenders, render_baseline

PARALLEL = ("disk", "pipe", "chunk")
GRADIENT = ClipSource("harness.workloads.gradient:make", {"width": 160, "height": 90, "duration": 1.0})
DIVERGENT = ClipSource("tests.edit_clips:divergent", {})


@pytest.fixture(scope="module")
def gradient(tmp_path_factory: pytest.TempPathFactory) -> BaselineRender:
    out = tmp_path_factory.mktemp("gradient") / "baseline.mp4"
    return render_baseline(GRADIENT, out, EncoderSpec.lossless())


@pytest.mark.parametrize("name", PARALLEL)
def test_gradient_equals_baseline(name: str, gradient: BaselineRender, tmp_path: Path) -> None:
    job = dataclasses.replace(gradient.job, output=tmp_path / f"{name}.mp4", workers=2)
    result = get_renderer(name).render(job)
    assert framemd5(job.output) == framemd5(gradient.path)
    # A frame function MoviePy computes: nothing for the fast path to do, and nothing checked.
    assert result.info["fast_path"]["enabled"] is False
    assert "nothing in this clip" in result.info["fast_path"]["reason"]
    assert "fast_path_check" not in result.stages


@pytest.mark.parametrize(("name", "workers"), [("pipe", 2), ("chunk", 4)], ids=["pipe-w2", "chunk-w4"])
def test_a_divergent_clip_turns_the_fast_path_off(name: str, workers: int, tmp_path: Path) -> None:
    """Its fast frames go wrong only from the second one a process makes: every worker that
    checks must check two frames (4 frames, 4 workers: two of them check)."""
    reference = render_baseline(DIVERGENT, tmp_path / "baseline.mp4", EncoderSpec.lossless())
    job = dataclasses.replace(reference.job, output=tmp_path / f"{name}.mp4", workers=workers)
    result = get_renderer(name).render(job)
    fast = result.info["fast_path"]
    assert fast["enabled"] is False, fast
    assert "differs from MoviePy's" in fast["reason"]
    assert len(fast["checked_frames"]) == 4
    assert framemd5(job.output) == framemd5(reference.path)


def test_fast_path_off_by_option(baseline_renders: BaselineRenders, tmp_path: Path) -> None:
    reference = baseline_renders.slideshow
    job = dataclasses.replace(
        reference.job, output=tmp_path / "pipe.mp4", workers=2, options={"fast_path": False}
    )
    result = get_renderer("pipe").render(job)
    assert result.info["fast_path"] == {
        "enabled": False,
        "reason": "turned off (option fast_path=False)",
    }
    assert framemd5(job.output) == framemd5(reference.path)


def test_fast_path_samples_option(baseline_renders: BaselineRenders, tmp_path: Path) -> None:
    reference = baseline_renders.slideshow
    job = dataclasses.replace(
        reference.job, output=tmp_path / "chunk.mp4", workers=2, options={"fast_path_samples": 7}
    )
    result = get_renderer("chunk").render(job)
    fast = result.info["fast_path"]
    assert fast["enabled"] is True and len(fast["checked_frames"]) == 7
    assert result.stages["fast_path_check"] > 0
    assert framemd5(job.output) == framemd5(reference.path)


@pytest.mark.parametrize(
    "options", [{"fast_path": "no"}, {"fast_path": 1}, {"fast_path_samples": 0}], ids=repr
)
def test_bad_fast_path_options_rejected(options: dict[str, object], tmp_path: Path) -> None:
    job = RenderJob(
        source=ClipSource("harness.workloads.slideshow:make", dict(TINY_SLIDESHOW)),
        output=tmp_path / "out.mp4",
        options=options,
    )
    with pytest.raises(InvalidJob, match="fast_path"):
        get_renderer("pipe").render(job)
    assert list(tmp_path.iterdir()) == []
