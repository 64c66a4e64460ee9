"""The parallel MoviePy renderers (disk, pipe, chunk) against the baseline, with real pools.

Exact mode (lossless libx264): every renderer's decoded frames equal the baseline's, chunk
seams included. Quality mode (crf 23): PSNR against a lossless source render within 0.5 dB
of the baseline's. Failures leave nothing: no output file, no process, no scratch directory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from harness.decode import framemd5
from harness.validate import Expectation, ValidationReport, decode_indices, validate
from harness.workloads import FRAME_INDEX, SLIDESHOW
from impls import (
    ClipSource,
    EncoderSpec,
    FrameFailed,
    InvalidJob,
    RenderJob,
    RenderResult,
    TaskTimeout,
    WorkerLost,
    get_renderer,
)
from impls.ffmpeg.probe import count_packets
from impls.model.timeline import Timeline, frame_rgb
from impls.moviepy import worker
from impls.moviepy.chunk import default_chunks, encoder_threads
from impls.runtime.executor import capabilities, usable_cores
from tests.renders import TINY_FRAME_INDEX, TINY_SLIDESHOW, BaselineRender, BaselineRenders

PARALLEL = ("disk", "pipe", "chunk")
FAULTY = "tests.faulty_clips:make"

# Processes multiprocessing keeps for the life of the interpreter (one each, reused by every
# pool): not workers, and not ours to stop.
_MP_SERVICES = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")


def _descendants() -> set[int]:
    found = set()
    for proc in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if not any(service in cmdline for service in _MP_SERVICES):
            found.add(proc.pid)
    return found


def _render(name: str, job: RenderJob) -> RenderResult:
    return get_renderer(name).render(job)


def _expect(job: RenderJob, reference: BaselineRender) -> Expectation:
    return Expectation.for_job(job, reference.timeline, reference.size, reference.audio)


def _check(report: ValidationReport) -> None:
    assert report.ok, report.problems


# ---------------------------------------------------------------------------------------------
# Exact mode: every renderer x workers x workload


@pytest.mark.parametrize("workers", [1, 2, 3], ids=lambda w: f"w{w}")
@pytest.mark.parametrize("name", PARALLEL)
@pytest.mark.parametrize("workload", ["slideshow", "frame_index"])
def test_lossless_frames_equal_baseline(
    name: str, workers: int, workload: str, baseline_renders: BaselineRenders, tmp_path: Path
) -> None:
    reference: BaselineRender = getattr(baseline_renders, workload)
    progress: list[int] = []
    job = dataclasses.replace(
        reference.job,
        output=tmp_path / f"{name}.mp4",
        workers=workers,
        progress=progress.append,
    )
    result = _render(name, job)

    assert result.renderer == name and not result.fallback_used and result.retries == 0
    assert result.frames == reference.timeline.frames
    assert result.fps == reference.timeline.rate
    assert result.duration == pytest.approx(reference.timeline.video_duration)
    assert sum(progress) == result.frames
    assert result.stages["frames"] > 0 and result.info["workers"] == workers
    # The slideshow's frames are made by the fast path; frame_index has nothing for it to do.
    fast = result.info["fast_path"]
    assert fast["enabled"] is (workload == "slideshow"), fast
    _check(validate(job.output, _expect(job, reference), reference=reference.path, mode="exact"))
    assert framemd5(job.output) == framemd5(reference.path)  # chunk seams included
    if workload == "frame_index":
        assert decode_indices(job.output) == list(range(result.frames))
    assert list(tmp_path.iterdir()) == [job.output]  # no partial or temporary file beside it


def test_chunk_seams_with_many_short_chunks(
    baseline_renders: BaselineRenders, tmp_path: Path
) -> None:
    reference = baseline_renders.slideshow
    job = dataclasses.replace(
        reference.job, output=tmp_path / "chunk.mp4", workers=2, options={"chunks": 7}
    )
    result = _render("chunk", job)
    assert result.info["chunks"] == 7
    assert result.info["encoder_threads"] == max(1, usable_cores() // 2)
    assert framemd5(job.output) == framemd5(reference.path)


def test_rgb_frames_without_the_mask_are_moviepys(baseline_renders: BaselineRenders) -> None:
    """Skipping the slideshow's mask (no alpha in yuv420p) leaves the RGB frames unchanged."""
    clip = ClipSource(SLIDESHOW, TINY_SLIDESHOW).load()
    try:
        assert clip.mask is not None  # write_videofile would compute it for every frame
        timeline = Timeline.for_clip(clip)
        for i, moviepy_frame in enumerate(clip.iter_frames(fps=timeline.clock_fps, dtype="uint8")):
            np.testing.assert_array_equal(frame_rgb(clip, timeline.time(i)), moviepy_frame)
    finally:
        clip.close()


# ---------------------------------------------------------------------------------------------
# Quality mode


@pytest.fixture(scope="module")
def baseline_crf23(
    baseline_renders: BaselineRenders, tmp_path_factory: pytest.TempPathFactory
) -> BaselineRender:
    lossless = baseline_renders.slideshow
    job = dataclasses.replace(
        lossless.job,
        output=tmp_path_factory.mktemp("crf23") / "baseline.mp4",
        encoder=EncoderSpec(crf=23),
    )
    result = _render("baseline", job)
    return dataclasses.replace(lossless, job=job, result=result)


@pytest.mark.parametrize("name", PARALLEL)
def test_quality_mode_psnr_matches_baseline(
    name: str,
    baseline_renders: BaselineRenders,
    baseline_crf23: BaselineRender,
    tmp_path: Path,
) -> None:
    job = dataclasses.replace(baseline_crf23.job, output=tmp_path / f"{name}.mp4", workers=2)
    _render(name, job)
    report = validate(
        job.output,
        _expect(job, baseline_crf23),
        reference=baseline_crf23.path,
        source_reference=baseline_renders.slideshow.path,
        mode="quality",
        psnr_tolerance=0.5,
    )
    _check(report)
    assert report.psnr is not None and 25 < report.psnr < 80


# ---------------------------------------------------------------------------------------------
# Options and transports


def test_pipe_transports_give_the_same_frames(
    baseline_renders: BaselineRenders, tmp_path: Path
) -> None:
    reference = baseline_renders.frame_index
    for transport in ("shm", "bytes"):
        job = dataclasses.replace(
            reference.job,
            output=tmp_path / f"{transport}.mp4",
            workers=2,
            options={"transport": transport, "max_inflight": 3},
        )
        result = _render("pipe", job)
        assert result.info["transport"] == transport and result.info["max_inflight"] == 3
        assert "lossy_transport" not in result.info
        assert framemd5(job.output) == framemd5(reference.path)


@pytest.mark.parametrize(
    ("name", "options"),
    [("pipe", {"transport": "jpeg"}), ("disk", {"image_format": "jpeg"})],
    ids=["pipe-jpeg", "disk-jpeg"],
)
def test_jpeg_is_flagged_lossy(
    name: str, options: dict[str, Any], baseline_renders: BaselineRenders, tmp_path: Path
) -> None:
    reference = baseline_renders.frame_index
    job = dataclasses.replace(
        reference.job, output=tmp_path / "out.mp4", workers=2, options=options
    )
    result = _render(name, job)
    assert result.info["lossy_transport"] is True
    report = validate(job.output, _expect(job, reference), reference=reference.path, mode="exact")
    assert not report.ok  # the pixels differ from the baseline's: the validator says so
    assert any("frame" in problem for problem in report.problems)
    assert decode_indices(job.output) == list(range(result.frames))  # order still right


def test_disk_png_is_lossless(baseline_renders: BaselineRenders, tmp_path: Path) -> None:
    reference = baseline_renders.frame_index
    job = dataclasses.replace(
        reference.job, output=tmp_path / "out.mp4", workers=2, options={"image_format": "png"}
    )
    result = _render("disk", job)
    assert result.info["image_format"] == "png" and "lossy_transport" not in result.info
    assert framemd5(job.output) == framemd5(reference.path)


def test_spawn_start_method(baseline_renders: BaselineRenders, tmp_path: Path) -> None:
    reference = baseline_renders.frame_index
    job = dataclasses.replace(
        reference.job, output=tmp_path / "out.mp4", workers=2, options={"start_method": "spawn"}
    )
    result = _render("chunk", job)
    assert result.info["start_method"] == "spawn"
    assert framemd5(job.output) == framemd5(reference.path)


def test_default_chunk_count() -> None:
    assert default_chunks(285, 2) == 6  # 3 per worker
    assert default_chunks(285, 4) == 7  # at least 40 frames per chunk...
    assert default_chunks(20, 4) == 4  # ...but never fewer chunks than workers
    assert default_chunks(3, 8) == 3  # nor more than frames


def test_chunk_encoder_threads() -> None:
    """A fair share of the cores where the workers share them; the user's setting wins; workers
    elsewhere keep the encoder's default."""
    local = capabilities("local")
    assert encoder_threads(EncoderSpec(), 2, local) == max(1, usable_cores() // 2)
    assert encoder_threads(EncoderSpec(), 10 * usable_cores(), local) == 1
    assert encoder_threads(EncoderSpec(threads=3), 2, local) == 3
    elsewhere = dataclasses.replace(local, remote=True, shares_cores=False)
    assert encoder_threads(EncoderSpec(), 2, elsewhere) is None
    assert encoder_threads(EncoderSpec(threads=3), 2, elsewhere) == 3


def test_segment_as_bytes_for_workers_without_shared_disk() -> None:
    """The chunk task can return its segment's bytes (a worker on another machine)."""
    source = worker.FrameSource(
        recipe=worker.FactoryClip(ClipSource(FRAME_INDEX, {"width": 64, "height": 48}), "bytes-test"),
        fps=None,
        alpha=False,
        width=64,
        height=48,
    )
    segment = worker.render_segment(source, range(5, 12), EncoderSpec.lossless(), Fraction(30), None)
    assert segment.path is None and segment.data is not None
    assert (segment.start, segment.stop, segment.frames) == (5, 12, 7)
    assert segment.data[4:8] == b"ftyp"


@pytest.mark.parametrize(
    ("name", "options", "words"),
    [
        ("pipe", {"max_inflight": 101}, "'max_inflight' must be between 1 and 100"),
        ("pipe", {"max_inflight": 0}, "'max_inflight'"),
        ("pipe", {"transport": "pickle"}, "'transport' must be one of shm, bytes, jpeg"),
        ("disk", {"image_format": "tiff"}, "'image_format'"),
        ("chunk", {"chunks": "4"}, "'chunks' must be an integer"),
        ("chunk", {"start_method": "fork"}, "start_method 'fork' is not supported"),
        ("disk", {"start_method": "threads"}, "unknown start_method 'threads'"),
    ],
)
def test_bad_options_rejected_before_anything_starts(
    name: str, options: dict[str, Any], words: str, tmp_path: Path, scratch_root: Path
) -> None:
    before = _descendants()
    job = RenderJob(
        ClipSource(FRAME_INDEX, TINY_FRAME_INDEX), tmp_path / "out.mp4", workers=2, options=options
    )
    with pytest.raises(InvalidJob, match=words):
        _render(name, job)
    assert _descendants() <= before
    assert not job.output.exists() and list(scratch_root.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Failures: nothing lost, nothing left behind


def _faulty_job(tmp_path: Path, fault: str, at: int, **changes: Any) -> RenderJob:
    kwargs = {**TINY_FRAME_INDEX, "fault": fault, "at": at, "marker": str(tmp_path / "marker")}
    job = RenderJob(
        ClipSource(FAULTY, kwargs),
        tmp_path / "out" / "video.mp4",
        workers=2,
        encoder=EncoderSpec.lossless(),
    )
    job.output.parent.mkdir()
    return dataclasses.replace(job, **changes)


@pytest.fixture
def leaves_nothing(scratch_root: Path) -> Iterator[None]:
    """After the test: no new descendant process, no scratch directory."""
    before = _descendants()
    yield
    assert _descendants() - before == set()
    assert list(scratch_root.iterdir()) == []


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize("name", PARALLEL)
def test_frame_that_raises_names_the_frame(name: str, tmp_path: Path) -> None:
    job = _faulty_job(tmp_path, "raise", at=17)
    with pytest.raises(FrameFailed) as caught:
        _render(name, job)
    error = caught.value
    assert error.frame == 17 and error.t == pytest.approx(17 / 30)
    assert "frame 17 (t=0.566667s) failed: Boom: boom at frame 17" in str(error)
    assert "faulty_clips.py" in error.traceback  # the worker's own traceback, as text
    assert list(job.output.parent.iterdir()) == []


@pytest.mark.slow
@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize("name", PARALLEL)
def test_frame_that_hangs_times_out(name: str, tmp_path: Path) -> None:
    job = _faulty_job(tmp_path, "hang", at=5, timeout=3.0)
    with pytest.raises(TaskTimeout, match=r"did not finish within the 3 s timeout"):
        _render(name, job)
    assert list(job.output.parent.iterdir()) == []


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize("name", PARALLEL)
def test_lost_worker_is_retried_with_a_fresh_pool(
    name: str, baseline_renders: BaselineRenders, tmp_path: Path
) -> None:
    job = _faulty_job(tmp_path, "kill_once", at=12)
    result = _render(name, job)
    assert (tmp_path / "marker").exists()  # a worker really died
    assert result.retries == 1 and not result.fallback_used
    assert any("worker lost" in why for why in result.failures.values())
    assert framemd5(job.output) == framemd5(baseline_renders.frame_index.path)


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize("retries", [0, 1])
@pytest.mark.parametrize("name", ["pipe", "chunk"])
def test_worker_that_always_dies_ends_in_worker_lost(
    name: str, retries: int, tmp_path: Path
) -> None:
    job = _faulty_job(tmp_path, "kill_always", at=12, retries=retries)
    with pytest.raises(WorkerLost, match=r"worker process lost \(pid \d+ killed by signal 9 ") as caught:
        _render(name, job)
    running = "frame 12" if name == "pipe" else "chunk 0 (frames 0..14)"
    assert running in str(caught.value)
    assert f"{retries + 1} attempt" in str(caught.value) and f"retries={retries}" in str(caught.value)
    assert list(job.output.parent.iterdir()) == []


@pytest.mark.usefixtures("leaves_nothing")
def test_user_errors_are_not_retried(tmp_path: Path) -> None:
    job = _faulty_job(tmp_path, "raise", at=3, retries=5)
    with pytest.raises(FrameFailed):
        _render("chunk", job)


@pytest.mark.usefixtures("leaves_nothing")
def test_fallback_renders_with_the_baseline(
    baseline_renders: BaselineRenders, tmp_path: Path
) -> None:
    job = _faulty_job(tmp_path, "raise_in_worker", at=9, fallback=True)
    result = _render("pipe", job)
    assert result.fallback_used and result.renderer == "pipe"
    assert result.info["rendered_by"] == "baseline"
    assert result.info["fallback_reason"].startswith("FrameFailed: frame 9")
    assert framemd5(job.output) == framemd5(baseline_renders.frame_index.path)


@pytest.mark.usefixtures("leaves_nothing")
def test_failed_fallback_raises_the_first_error(tmp_path: Path) -> None:
    job = _faulty_job(tmp_path, "raise", at=4, fallback=True)
    with pytest.raises(FrameFailed) as caught:
        _render("disk", job)
    assert any("baseline fallback failed too" in note for note in caught.value.__notes__)
    assert list(job.output.parent.iterdir()) == []


def test_existing_output_survives_a_failed_render(tmp_path: Path) -> None:
    job = _faulty_job(tmp_path, "raise", at=2)
    job.output.write_bytes(b"previous render")
    with pytest.raises(FrameFailed):
        _render("chunk", job)
    assert job.output.read_bytes() == b"previous render"
    assert list(job.output.parent.iterdir()) == [job.output]


def test_scratch_directory_is_removed_after_success(
    scratch_root: Path, baseline_renders: BaselineRenders, tmp_path: Path
) -> None:
    job = dataclasses.replace(
        baseline_renders.frame_index.job, output=tmp_path / "out.mp4", workers=2
    )
    for name in PARALLEL:
        _render(name, job)
        assert list(scratch_root.iterdir()) == []
    assert count_packets(job.output) == baseline_renders.frame_index.timeline.frames
