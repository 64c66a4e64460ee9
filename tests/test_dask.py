"""``executor="dask"``: real Dask clusters (LocalCluster, and ``dask worker`` processes).

Outputs are checked like the local pool's: lossless renders decode to exactly the baseline's
frames (MoviePy) or manim-serial's (Manim). A worker killed mid-render ends in a correct output
(Dask rescheduled its work) or in the clean failure (WorkerLost, no output, nothing left),
never a corrupt file. Workers that share no directory with each other or with this process
prove that nothing relies on a shared filesystem.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

pytest.importorskip("distributed")

import dask  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

from harness import matrix  # noqa: E402
from harness.decode import framemd5, probe  # noqa: E402
from harness.validate import Expectation, validate  # noqa: E402
from harness.workloads import FRAME_INDEX, SLIDESHOW, explainer, slideshow  # noqa: E402
from harness.workloads.presets import Workload  # noqa: E402
from impls import (  # noqa: E402
    ClipSource,
    EncoderSpec,
    InvalidJob,
    InvalidSource,
    ManimSource,
    RenderJob,
    RenderFailed,
    RenderResult,
    TaskTimeout,
    WorkerLost,
    get_renderer,
    render,
)
from impls.errors import ScenesFailed, SceneWorkerLost  # noqa: E402
from impls.ffmpeg.probe import count_packets  # noqa: E402
from impls.runtime import dask as dask_runtime  # noqa: E402
from impls.runtime.executor import usable_cores  # noqa: E402
from tests import alloc_probe  # noqa: E402
from tests.dropin_clips import LOSSLESS_MP3, assert_same, moviepy_reference  # noqa: E402
from tests.renders import TINY_FRAME_INDEX, TINY_SLIDESHOW, BaselineRender, BaselineRenders  # noqa: E402

FAULTY = "tests.faulty_clips:make"

# Processes multiprocessing keeps for the life of the interpreter: not workers, not ours to stop.
_MP_SERVICES = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")

SCRIPT = """
from manim import *

class Grow(Scene):
    def construct(self):
        self.play(Create(Circle()), run_time=1.0)
        self.play(Create(Square()), run_time=1.0)

class Fade(Scene):
    def construct(self):
        square = Square()
        self.add(square)
        self.play(FadeOut(square), run_time=0.6)
"""


#: A cluster on this machine that takes no fixed port (8787 may be another cluster's).
QUIET_CLUSTER: dict[str, Any] = {
    "processes": True,
    "host": "127.0.0.1",
    "dashboard_address": None,
    "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},
    "silence_logs": logging.ERROR,
}


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


def _mentioning(text: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(text in part for part in (proc.info["cmdline"] or [])) and proc.pid != os.getpid():
            found.append(proc)
    return found


def _wait_until(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _check_exact(job: RenderJob, reference: BaselineRender) -> None:
    expect = Expectation.for_job(job, reference.timeline, reference.size, reference.audio)
    report = validate(job.output, expect, reference=reference.path, mode="exact")
    assert report.ok, report.problems
    assert framemd5(job.output) == framemd5(reference.path)


@pytest.fixture
def leaves_nothing(scratch_root: Path) -> Iterator[None]:
    """After the test: no new descendant process, nothing in the temp root, no process left
    working in it (a killed worker's ffmpeg or manim finishes on its own, quickly)."""
    before = _descendants()
    yield
    assert _wait_until(lambda: not _mentioning(str(scratch_root)))
    assert _descendants() - before == set()
    assert list(scratch_root.iterdir()) == []


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A running cluster of 2 worker processes, reached by its address like a remote one."""
    with LocalCluster(n_workers=2, threads_per_worker=1, **QUIET_CLUSTER) as running:  # type: ignore[no-untyped-call]
        yield running


# ---------------------------------------------------------------------------------------------
# A private LocalCluster (dask_address=None)


@pytest.mark.slow
@pytest.mark.usefixtures("leaves_nothing")
def test_chunk_on_a_private_local_cluster_equals_baseline(
    baseline_renders: BaselineRenders, tmp_path: Path
) -> None:
    reference = baseline_renders.slideshow  # lossless, with audio
    progress: list[int] = []
    job = dataclasses.replace(
        reference.job,
        output=tmp_path / "chunk-dask.mp4",
        workers=2,
        executor="dask",
        progress=progress.append,
    )
    result = get_renderer("chunk").render(job)
    assert result.info["executor"] == "dask" and result.info["segments"] == "bytes"
    assert result.info["dask"]["cluster"] == "local"
    assert result.info["dask"]["scheduler"].startswith("tcp://127.0.0.1:")
    assert result.info["encoder_threads"] == max(1, usable_cores() // 2)  # this machine's cores
    assert result.info["audio"] and result.retries == 0 and not result.failures
    assert sum(progress) == result.frames == reference.timeline.frames
    _check_exact(job, reference)
    assert sorted(tmp_path.iterdir()) == sorted([tmp_path / "scratch", job.output])


def test_private_cluster_workers_compute_frames_like_local_workers() -> None:
    # Dask's defaults cost frames CPU: a 64 KiB trim threshold, a malloc arena per thread and
    # the statistical profiler (see DaskPool). A private cluster's workers start without them.
    pool = dask_runtime.DaskPool(1, None, 0)
    try:
        settings = pool.submit(alloc_probe.dask_worker_settings).result(timeout=60)
    finally:
        pool.close()
    assert settings == {
        "MALLOC_ARENA_MAX": "1", "MALLOC_TRIM_THRESHOLD_": None, "profiler": False, "tick_ms": 1000
    }  # fmt: skip
    assert dask.config.get("distributed.worker.profile.enabled") is True  # ours is untouched


@dataclasses.dataclass(frozen=True)
class Manim:
    script: Path
    source: ManimSource
    serial: RenderResult


@pytest.fixture(scope="module")
def manim(tmp_path_factory: pytest.TempPathFactory) -> Manim:
    root = tmp_path_factory.mktemp("manim-dask")
    script = root / "scenes.py"
    script.write_text(SCRIPT)
    narration = explainer.write_narration(root, seed=5, seconds={"Fade": 1.5}, scenes=("Fade",))
    source = ManimSource(script, ("Grow", "Fade"), narration, quality="l")
    serial = get_renderer("manim-serial").render(RenderJob(source, root / "serial.mp4"))
    return Manim(script, source, serial)


def _check_matches_serial(result: RenderResult, output: Path, manim: Manim) -> None:
    assert (result.frames, result.fps) == (manim.serial.frames, manim.serial.fps)
    assert result.info["scenes"] == manim.serial.info["scenes"]
    assert count_packets(output) == manim.serial.frames
    assert framemd5(output) == framemd5(manim.serial.output)
    streams = {s["codec_type"]: float(s["duration"]) for s in probe(output)["streams"]}
    assert abs(streams["audio"] - streams["video"]) <= 1024 / 48000


@pytest.mark.slow
@pytest.mark.usefixtures("leaves_nothing")
def test_manim_scenes_on_a_private_local_cluster_match_serial(manim: Manim, tmp_path: Path) -> None:
    output = tmp_path / "scenes-dask.mp4"
    done: list[int] = []
    result = get_renderer("manim-scenes").render(
        RenderJob(manim.source, output, workers=2, executor="dask", progress=done.append)
    )
    assert result.info["executor"] == "dask" and result.info["audio"]
    assert sum(done) == result.frames
    _check_matches_serial(result, output, manim)


# ---------------------------------------------------------------------------------------------
# A worker lost mid-render


@pytest.mark.slow
@pytest.mark.usefixtures("leaves_nothing")
def test_chunk_whose_worker_is_killed_is_rescheduled(
    baseline_renders: BaselineRenders, tmp_path: Path
) -> None:
    marker = tmp_path / "killed"
    kwargs = {**TINY_FRAME_INDEX, "fault": "kill_once", "at": 12, "marker": str(marker)}
    job = RenderJob(
        ClipSource(FAULTY, kwargs), tmp_path / "out.mp4", workers=2,
        encoder=EncoderSpec.lossless(), executor="dask", retries=1,
    )  # fmt: skip
    result = get_renderer("chunk").render(job)
    assert marker.exists()  # a worker really SIGKILLed itself inside the chunk
    dask = result.info["dask"]
    assert dask["lost_workers"] and dask["rescheduled"]
    assert result.retries == len(dask["rescheduled"]) >= 1
    assert all("rescheduled by Dask" in why for why in result.failures.values())
    assert framemd5(job.output) == framemd5(baseline_renders.frame_index.path)


@pytest.mark.slow
@pytest.mark.usefixtures("leaves_nothing")
def test_chunk_whose_worker_keeps_dying_fails_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    kwargs = {**TINY_FRAME_INDEX, "fault": "kill_always", "at": 12}
    job = RenderJob(
        ClipSource(FAULTY, kwargs), out / "video.mp4", workers=2,
        encoder=EncoderSpec.lossless(), executor="dask", retries=0,
    )  # fmt: skip
    with pytest.raises(WorkerLost) as caught:
        get_renderer("chunk").render(job)
    message = str(caught.value)
    assert "worker process lost (Dask worker tcp://127.0.0.1:" in message
    assert "tried on 1 worker (the scheduler's allowed-failures is 0)" in message
    assert "while rendering chunk 0 (frames 0..14); retries=0" in message
    assert list(out.iterdir()) == []


@pytest.mark.slow
@pytest.mark.usefixtures("leaves_nothing")
def test_hung_task_times_out_and_its_workers_are_killed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    kwargs = {**TINY_FRAME_INDEX, "fault": "hang", "at": 5}
    job = RenderJob(
        ClipSource(FAULTY, kwargs), out / "video.mp4", workers=2,
        encoder=EncoderSpec.lossless(), executor="dask", timeout=3.0,
    )  # fmt: skip
    started = time.monotonic()
    with pytest.raises(TaskTimeout, match=r"chunk 0 \(frames 0..14\) did not finish within the 3 s"):
        get_renderer("chunk").render(job)
    assert time.monotonic() - started < 60
    assert list(out.iterdir()) == []


@pytest.mark.slow
@pytest.mark.usefixtures("leaves_nothing")
def test_manim_worker_killed_from_outside_ends_correct_or_clean(manim: Manim, tmp_path: Path) -> None:
    """SIGKILL the Dask worker process that runs the Grow scene's manim, as a crash would."""
    output = tmp_path / "scenes-dask.mp4"
    killed: list[int] = []
    outcome: dict[str, Any] = {}

    def render() -> None:
        try:
            outcome["result"] = get_renderer("manim-scenes").render(
                RenderJob(manim.source, output, workers=2, executor="dask", retries=1)
            )
        except Exception as exc:  # judged below
            outcome["error"] = exc

    def grow_worker() -> bool:
        for proc in _mentioning("Grow"):
            with contextlib.suppress(psutil.Error):
                if "manim" in proc.cmdline() and "renderbench-manim-" in " ".join(proc.cmdline()):
                    worker = proc.parent()
                    if worker is not None:
                        worker.send_signal(signal.SIGKILL)
                        killed.append(worker.pid)
                        return True
        return False

    import threading

    thread = threading.Thread(target=render)
    thread.start()
    try:
        assert _wait_until(grow_worker, 120), "the Grow scene's manim never started"
    finally:
        thread.join(300)
    assert killed
    if "result" in outcome:  # rescheduled on another worker
        _check_matches_serial(outcome["result"], output, manim)
    else:  # or the clean failure: the scene is named, no output
        error = outcome["error"]
        assert isinstance(error, ScenesFailed), error
        assert isinstance(error.failures["Grow"], SceneWorkerLost)
        assert not output.exists()


# ---------------------------------------------------------------------------------------------
# A running scheduler, reached by its address


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "options"),
    [("chunk", {}), ("pipe", {}), ("disk", {"shared_dir": True})],
    ids=["chunk", "pipe-bytes", "disk-shared-dir"],
)
def test_renderers_on_a_scheduler_address(
    name: str,
    options: dict[str, Any],
    cluster: LocalCluster,
    baseline_renders: BaselineRenders,
    tmp_path: Path,
    scratch_root: Path,
) -> None:
    reference = baseline_renders.frame_index
    shared = tmp_path / "shared"
    shared.mkdir()
    if options.get("shared_dir"):
        options = {"shared_dir": str(shared)}
    job = dataclasses.replace(
        reference.job,
        output=tmp_path / f"{name}.mp4",
        workers=2,
        executor="dask",
        dask_address=cluster.scheduler_address,
        options=options,
    )
    result = get_renderer(name).render(job)
    assert result.info["dask"] == {
        "scheduler": cluster.scheduler_address, "cluster": "remote",
        "lost_workers": [], "rescheduled": [],
    }  # fmt: skip
    if name == "pipe":
        assert result.info["transport"] == "bytes"
    if name == "chunk":  # the cluster's cores are not known here: the encoder's default
        assert result.info["encoder_threads"] is None
    _check_exact(job, reference)
    assert list(shared.iterdir()) == [] and list(scratch_root.iterdir()) == []
    with Client(cluster.scheduler_address, set_as_default=False) as client:  # type: ignore[no-untyped-call]
        assert len(client.scheduler_info()["workers"]) == 2  # the cluster is left running
        # ...without the clips this render built in its workers' memory.
        assert set(client.run(_cached_clips).values()) == {0}


@pytest.mark.slow
def test_a_clip_object_on_a_scheduler_address(
    cluster: LocalCluster, tmp_path: Path, scratch_root: Path
) -> None:
    """The caller's clip sent to a running cluster (it outlives the render): the output is
    MoviePy's, and afterwards the cluster holds neither the payload nor a copy of the clip."""
    clip = slideshow.make(**TINY_SLIDESHOW)
    reference = moviepy_reference(clip, tmp_path / "moviepy.mp4")
    output = tmp_path / "chunk.mp4"
    result = render(
        clip, output, method="chunk", workers=2, encoder=LOSSLESS_MP3, executor="dask",
        dask_address=cluster.scheduler_address, progress=False,
    )  # fmt: skip
    assert_same(output, reference)
    transfer = result.info["clip_transfer"]
    assert transfer["delivery"] == "published" and transfer["send_s"] > 0
    assert 1 <= len(transfer["load_s_per_worker"]) <= 2  # each worker loaded it once
    assert list(scratch_root.iterdir()) == []
    with Client(cluster.scheduler_address, set_as_default=False) as client:  # type: ignore[no-untyped-call]
        assert not client.list_datasets()
        keys = [str(key) for keys in client.has_what().values() for key in keys]
        assert not [key for key in keys if "renderbench-clip" in key]
        assert set(client.run(_cached_clips).values()) == {0}


def _cached_clips() -> int:
    frames = sys.modules.get("impls.moviepy.worker")
    return 0 if frames is None else len(frames._clips)


# ---------------------------------------------------------------------------------------------
# Workers that share no directory with each other or with this process


@dataclasses.dataclass(frozen=True)
class Separate:
    address: str
    homes: list[Path]


def _dask_cli() -> list[str]:
    script = Path(sys.executable).with_name("dask")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dask"]


@pytest.fixture
def separate_workers(tmp_path: Path) -> Iterator[Separate]:
    """A scheduler here and two ``dask worker`` processes, each with its own TMPDIR, cache and
    local directory, as on two machines."""
    scheduler = LocalCluster(n_workers=0, **QUIET_CLUSTER)  # type: ignore[no-untyped-call]
    procs: list[subprocess.Popen[bytes]] = []
    homes = []
    try:
        for name in ("a", "b"):
            home = tmp_path / f"machine-{name}"
            (home / "tmp").mkdir(parents=True)
            homes.append(home)
            env = {**os.environ, "TMPDIR": str(home / "tmp"), "RENDERBENCH_CACHE": str(home / "cache")}
            with open(home / "worker.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [*_dask_cli(), "worker", scheduler.scheduler_address, "--name", name,
                         "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                         "--local-directory", str(home / "local")],
                        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home,
                    )  # fmt: skip
                )
        with Client(scheduler.scheduler_address, set_as_default=False) as client:  # type: ignore[no-untyped-call]
            client.wait_for_workers(2, timeout=120)
        yield Separate(scheduler.scheduler_address, homes)
    finally:
        doomed: list[psutil.Process] = []
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                top = psutil.Process(proc.pid)
                doomed += [top, *top.children(recursive=True)]
        for victim in doomed:
            with contextlib.suppress(psutil.Error):
                victim.terminate()
        _, alive = psutil.wait_procs(doomed, timeout=10)
        for victim in alive:
            with contextlib.suppress(psutil.Error):
                victim.kill()
        for proc in procs:
            proc.wait(10)
        scheduler.close()


@pytest.mark.slow
def test_nothing_relies_on_a_shared_filesystem(
    separate_workers: Separate, baseline_renders: BaselineRenders, tmp_path: Path, scratch_root: Path
) -> None:
    reference = baseline_renders.slideshow
    job = dataclasses.replace(
        reference.job,
        output=tmp_path / "chunk.mp4",
        workers=2,
        executor="dask",
        dask_address=separate_workers.address,
        options={"chunks": 4},  # several segments from each worker
    )
    result = get_renderer("chunk").render(job)
    _check_exact(job, reference)
    # Segments came back as bytes: the client never saw a worker's path.
    assert result.info["segments"] == "bytes"
    for home in separate_workers.homes:
        assert str(home) not in repr(result)
        # Each worker rendered in its own directory and left nothing there.
        assert (home / "cache" / "slideshow").is_dir()  # it built the clip itself
        leftovers = [p for p in home.rglob("renderbench-*")]
        assert leftovers == []
    assert list(scratch_root.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# What Dask cannot do, said early and clearly


def _frame_index_job(tmp_path: Path, **changes: Any) -> RenderJob:
    job = RenderJob(ClipSource(FRAME_INDEX, TINY_FRAME_INDEX), tmp_path / "out.mp4", workers=2)
    return dataclasses.replace(job, **changes)


@pytest.mark.parametrize(
    ("name", "changes", "words"),
    [
        ("disk", {}, r"disk writes frame files .* needs options\['shared_dir'\]"),
        ("disk", {"options": {"shared_dir": "/nonexistent/shared"}}, "shared_dir' must be an existing directory"),
        ("chunk", {"options": {"shared_dir": "/nonexistent/shared"}}, "shared_dir' must be an existing directory"),
        ("pipe", {"options": {"transport": "shm"}}, "transport 'shm' needs shared memory"),
        ("chunk", {"dask_address": "host:8786"}, "dask_address must be a scheduler address like tcp://"),
    ],
    ids=["disk-no-shared-dir", "disk-bad-shared-dir", "chunk-bad-shared-dir", "pipe-shm", "bad-address"],
)
def test_refused_before_anything_starts(
    name: str, changes: dict[str, Any], words: str, tmp_path: Path, scratch_root: Path
) -> None:
    before = _descendants()
    job = _frame_index_job(tmp_path, executor="dask", **changes)
    with pytest.raises(InvalidJob, match=words):
        get_renderer(name).render(job)
    assert _descendants() <= before
    assert not job.output.exists() and list(scratch_root.iterdir()) == []


@pytest.mark.slow
@pytest.mark.usefixtures("leaves_nothing")
def test_cluster_started_ahead_is_closed_when_the_clip_cannot_be_built(tmp_path: Path) -> None:
    job = RenderJob(
        ClipSource("tests.no_such_module:make"), tmp_path / "out.mp4", workers=2, executor="dask"
    )
    with pytest.raises(InvalidSource, match="cannot import factory module 'tests.no_such_module'"):
        get_renderer("chunk").render(job)
    assert not job.output.exists()


@pytest.mark.slow
@pytest.mark.usefixtures("leaves_nothing")
def test_unreachable_scheduler_fails_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dask_runtime, "CONNECT_TIMEOUT_S", 2.0)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    out = tmp_path / "out"
    out.mkdir()
    job = _frame_index_job(out, executor="dask", dask_address=address)
    with pytest.raises(RenderFailed, match=f"cannot use the Dask scheduler at {address}: .*is `dask scheduler` running there"):
        get_renderer("chunk").render(job)
    assert list(out.iterdir()) == []


@pytest.mark.slow
@pytest.mark.usefixtures("leaves_nothing")
def test_scheduler_without_workers_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dask_runtime, "CONNECT_TIMEOUT_S", 1.0)
    with dask.config.set({"temporary-directory": str(tmp_path / "scheduler")}):
        empty = LocalCluster(n_workers=0, **QUIET_CLUSTER)  # type: ignore[no-untyped-call]  # files outside the render's temp
    with empty:
        address = empty.scheduler_address
        out = tmp_path / "out"
        out.mkdir()
        job = _frame_index_job(out, executor="dask", dask_address=address)
        with pytest.raises(RenderFailed, match=f"has no worker after 1 s; start some with `dask worker {address}`"):
            get_renderer("chunk").render(job)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("name", ["manim-serial", "manim-inflight", "manim-ranges"])
def test_local_only_manim_renderers_refuse_dask(name: str, manim_script: Path, tmp_path: Path) -> None:
    job = RenderJob(ManimSource(manim_script, ("Fade",)), tmp_path / "out.mp4", executor="dask")
    renderer = get_renderer(name)
    with pytest.raises(InvalidJob, match=f"{name} runs manim on this machine only"):
        renderer.render(job)
    assert "manim-scenes" in str(getattr(renderer, "executor_reason")("dask"))
    assert get_renderer("manim-scenes").executor_reason("dask") is None  # type: ignore[attr-defined]


@pytest.fixture
def manim_script(tmp_path: Path) -> Path:
    script = tmp_path / "scenes.py"
    script.write_text(SCRIPT)
    return script


def test_missing_distributed_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def without_distributed(name: str, *args: Any) -> Any:
        return None if name == "distributed" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_distributed)
    with pytest.raises(InvalidJob, match=r"pip install 'pytest-renderbench\[dask\]'"):
        get_renderer("chunk").render(_frame_index_job(tmp_path, executor="dask"))


def test_harness_skips_pairs_dask_cannot_run_with_the_reason() -> None:
    names = ("baseline", "disk", "pipe", "chunk")
    renderers = {name: get_renderer(name) for name in names}
    load = Workload("tiny", "custom", ClipSource(SLIDESHOW, TINY_SLIDESHOW), "auto")
    cases = matrix.generate(renderers, {}, [load], [2], [EncoderSpec()], ["local", "dask"])
    skips = {case.id: case.skip for case in cases}
    assert skips["chunk-w2-libx264:medium:23-tiny-dask"] is None
    assert skips["pipe-w2-libx264:medium:23-tiny-dask"] is None
    assert "shared_dir" in str(skips["disk-w2-libx264:medium:23-tiny-dask"])
    assert skips["disk-w2-libx264:medium:23-tiny"] is None
