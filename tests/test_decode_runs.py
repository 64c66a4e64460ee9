"""A clip that reads a video file: each worker's reader reads forward, not the whole file.

A worker rendering frames i, i+w, i+2w... of such a clip makes its MoviePy reader decode and
pipe over every frame in between: with w workers the file is decoded w times. ``pipe`` and
``disk`` hand out runs of consecutive frames instead. The proxy counted here is exact and
deterministic: the frames ffmpeg pipes to the workers' readers (read or skipped), summed
over the workers. The output stays the baseline's, frame for frame (lossless).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.decode import framemd5
from impls import ClipSource, EncoderSpec, RenderJob, get_renderer
from impls.ffmpeg.probe import keyframe_interval
from impls.moviepy import worker
from impls.moviepy.disk import stretches
from impls.moviepy.worker import FactoryClip, FrameSource
from tests.decode_counting import totals
from tests.media import make_video

#: The clip samples its 30 fps source at 10 fps: runs of a few dozen frames then span more
#: source frames than MoviePy's reader ever skips (100), so past a run it seeks, as it would
#: past a run of a full-rate clip of realistic length. Each worker pipes the frames of its runs
#: and the source frames between them (two of every three, read in order as the baseline does).
FPS = 10
SECONDS = 12.0
FRAMES = round(FPS * SECONDS)
CUTS = 3


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("decode") / "source.mp4", "96x54", 16.0, audio=False)


def _clip(source: Path, counts: Path) -> ClipSource:
    edit = {"width": 96, "height": 54, "fps": FPS, "duration": SECONDS, "cuts": CUTS,
            "source": str(source), "audio": False}  # fmt: skip
    return ClipSource("tests.decode_counting:counted_edit", {"counts": str(counts), **edit})


def _render(
    name: str, source: Path, folder: Path, workers: int, **options: Any
) -> tuple[Any, dict[str, Any]]:
    counts = folder / f"counts-{name}-{workers}-{len(options)}"
    counts.mkdir()
    output = folder / f"{name}-{workers}-{len(options)}.mp4"
    job = RenderJob(
        source=_clip(source, counts), output=output, workers=workers,
        encoder=EncoderSpec.lossless(), options={"fast_path": False, **options} if name != "baseline" else {},
    )  # fmt: skip
    result = get_renderer(name).render(job)
    # The baseline renders in this process; a parallel render's frames are the workers' only.
    counted = totals(counts, -1 if name == "baseline" else os.getpid())
    return result, {**counted, "md5": framemd5(output)}


@dataclass(frozen=True)
class Baseline:
    md5: list[str]
    piped: int  # source frames MoviePy's readers piped over, building the clip included


@pytest.fixture(scope="module")
def baseline(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    _, counted = _render("baseline", source, tmp_path_factory.mktemp("baseline"), 1)
    assert len(counted["md5"]) == FRAMES
    return Baseline(counted["md5"], counted["piped"])


def test_the_source_has_a_keyframe_every_second(source: Path) -> None:
    # The bounds below assume it: a seek decodes at most 1 s + one keyframe interval.
    assert keyframe_interval(source) == 30


def _piped_by_schedule(source: Path, counts: Path, schedule: list[list[range]]) -> int:
    """Source frames piped when worker ``k`` renders the runs ``schedule[k]`` in order, each
    worker with its own clip (built here, one after the other, as each worker builds its own):
    the work of a pool whose workers keep pace, without a pool's timing."""
    total = 0
    for runs in schedule:
        recipe = FactoryClip(_clip(source, counts), uuid.uuid4().hex)
        frame_source = FrameSource(recipe, None, False, 96, 54)
        before = totals(counts, -1)["piped"]
        try:
            for run in runs:
                worker.render_bytes(frame_source, run)
        finally:
            worker.forget_clip(recipe.token)
        total += totals(counts, -1)["piped"] - before
    return total


def _round_robin(tasks: list[range], workers: int) -> list[list[range]]:
    return [tasks[k::workers] for k in range(workers)]


@pytest.mark.parametrize("workers", [2, 3, 4])
def test_runs_pipe_the_file_about_once_not_once_per_worker(
    workers: int, source: Path, baseline: Baseline, tmp_path: Path
) -> None:
    # pipe's default runs (a window of 100 frames here: tiny frames) and disk's stretches,
    # against frame-by-frame tasks, each handed out in turn as a pool of workers keeping pace
    # does. A worker builds the clip (a few frames of each cut) and starts each run with a
    # seek or a skip of at most 1 s + a keyframe interval; beyond that the runs pipe the file
    # about once in all.
    run = 100 // workers
    pipe = [range(s, min(s + run, FRAMES)) for s in range(0, FRAMES, run)]
    single = [range(i, i + 1) for i in range(FRAMES)]
    counted = {
        name: _piped_by_schedule(source, tmp_path, _round_robin(tasks, workers))
        for name, tasks in [
            ("pipe", pipe), ("disk", stretches(FRAMES, workers, 3)), ("single", single)
        ]
    }  # fmt: skip
    assert counted["pipe"] <= 1.5 * baseline.piped, counted
    assert counted["disk"] <= 1.5 * baseline.piped, counted
    assert counted["single"] >= 0.8 * workers * baseline.piped, counted


@pytest.mark.parametrize(("name", "workers"), [("pipe", 3), ("disk", 3)])
def test_file_clip_renders_the_baselines_frames(
    name: str, workers: int, source: Path, baseline: Baseline, tmp_path: Path
) -> None:
    result, counted = _render(name, source, tmp_path, workers)
    assert counted["md5"] == baseline.md5  # lossless: the baseline's frames exactly
    if name == "pipe":
        assert result.info["run_frames"] > 1
        assert result.info["max_inflight"] >= workers * result.info["run_frames"]


def test_pipe_runs_within_a_small_window(source: Path, baseline: Baseline, tmp_path: Path) -> None:
    """Runs that fill the window exactly stay in order and in their slots."""
    result, counted = _render("pipe", source, tmp_path, 2, max_inflight=9, run_frames=3)
    assert counted["md5"] == baseline.md5
    assert result.info["max_inflight"] == 9 and result.info["run_frames"] == 3


def test_stretches_cover_every_frame_once_each_worker_its_own_stretch() -> None:
    order = stretches(300, 4, 3)
    assert sorted(i for run in order for i in run) == list(range(300))
    # Handed out in order to 4 workers keeping pace: worker k gets runs k, k+4, k+8.
    for k in range(4):
        mine = [order[k], order[k + 4], order[k + 8]]
        assert all(a.stop == b.start for a, b in zip(mine, mine[1:]))
    assert stretches(2, 4, 3) == [range(0, 1), range(1, 2)]
