"""Reliability: faults, cancellation and bad input, with real pools, ffmpeg and manim.

Every test provokes a failure the way it happens in production (a process killed with a
signal, a frame that never returns, a signal to the render, a careless input) and checks the
guarantees: the error names the problem; no file at the output path unless the render
succeeded (an existing one is untouched); no scratch directory; no process left.

Processes are found with psutil. multiprocessing's forkserver and resource tracker live as long
as the interpreter that started them and serve every pool: they are not a render's processes
(but the workers the forkserver forks are, and so are their ffmpegs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.decode import framemd5, probe
from harness.validate import decode_indices
from harness.workloads import FRAME_INDEX
from impls import (
    ClipSource,
    EncoderSpec,
    EncoderUnavailable,
    FFmpegError,
    FrameFailed,
    InvalidJob,
    InvalidSource,
    ManimSource,
    RenderJob,
    RenderResult,
    TaskTimeout,
    ToolNotFound,
    WorkerLost,
    get_renderer,
)
from impls.errors import ScenesFailed
from impls.ffmpeg.command import RawFormat
from impls.ffmpeg.probe import count_packets, frames_and_rate
from impls.ffmpeg.process import FrameWriter
from impls.ffmpeg.tools import use_for_moviepy
from impls.runtime import local
from impls.runtime.executor import register_executor, unregister_executor
from tests import faulty_clips
from tests.faulty_clips import Boom
from tests.media import make_video

ROOT = Path(__file__).resolve().parent.parent
PARALLEL = ("disk", "pipe", "chunk")
CLIP_RENDERERS = ("baseline", *PARALLEL)
MANIM_RENDERERS = ("manim-serial", "manim-scenes", "manim-inflight", "manim-ranges")
#: Renderers as parameters, Manim ones marked slow (a manim process takes seconds to start).
CLIP_PARAMS = [pytest.param(name, id=name) for name in ("baseline", "disk", "pipe", "chunk")]
MANIM_PARAMS = [pytest.param(name, id=name, marks=pytest.mark.slow) for name in MANIM_RENDERERS]
FAULTY = "tests.faulty_clips:make"
SLOW = "tests.faulty_clips:slow"
SMALL: dict[str, Any] = {"width": 160, "height": 90, "fps": 30}
#: How long a process may outlive the render (or the parent) it belonged to.
GRACE_S = 5.0
_MP_SERVICES = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")

# Scenes for the Manim cases; the test substitutes the upper-case placeholders with paths.
MANIM_SCRIPT = '''
import os, signal, time
from pathlib import Path
from manim import *

def note(path):
    with open(path, "a") as out:
        out.write(f"{os.getpid()}\\n")

class Short(Scene):
    def construct(self):
        self.play(Create(Square()), run_time=0.6)               # 9 frames at 15 fps
        self.wait(0.3)                                          # 4

class One(Scene):
    def construct(self):
        self.play(Create(Square()), run_time=0.6)               # one animation: one partial movie

class Sleepy(Scene):
    def construct(self):
        self.play(Create(Circle()), run_time=0.2)
        Path("STARTED").write_text(str(os.getpid()))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.1)

class Flaky(Scene):
    def construct(self):
        note("ATTEMPTS")
        if not Path("FLAG").exists():
            Path("FLAG").write_text("killed once")
            os.kill(os.getpid(), signal.SIGKILL)
        self.play(Create(Square()), run_time=0.6)
        self.wait(0.3)

class AlwaysKilled(Scene):
    def construct(self):
        note("ATTEMPTS")
        os.kill(os.getpid(), signal.SIGKILL)

class Boom(Scene):
    def construct(self):
        note("ATTEMPTS")
        raise ValueError("boom-e41c: the scene's own error")

class Formula(Scene):
    def construct(self):
        self.play(Write(MathTex(r"e^{i\\pi} + 1 = 0")))
'''
SHORT_FRAMES = 13


# ---------------------------------------------------------------------------------------------
# Processes, files, and renders in the background


def _is_service(proc: psutil.Process, root: int) -> bool:
    try:
        return proc.ppid() == root and any(s in " ".join(proc.cmdline()) for s in _MP_SERVICES)
    except psutil.Error:
        return False


def descendants(root: int | None = None, *, services: bool = False) -> dict[int, psutil.Process]:
    """Live descendants of ``root`` (this process), without multiprocessing's services."""
    pid = os.getpid() if root is None else root
    try:
        found = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return {}
    return {p.pid: p for p in found if services or not _is_service(p, pid)}


def alive(procs: Iterator[psutil.Process] | list[psutil.Process]) -> list[str]:
    """The processes still running (a zombie waiting for its reaper counts as gone)."""
    running = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                running.append(f"{proc.pid} {' '.join(proc.cmdline())[:160]}")
        except psutil.Error:
            continue
    return running


def wait_until_gone(procs: list[psutil.Process], timeout: float = GRACE_S) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = alive(procs)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def strays(marker: Path, session: int) -> list[psutil.Process]:
    """Processes of a dead render found anywhere: in its session, or naming ``marker``.

    Catches what a snapshot of its tree could miss (a process started after the snapshot;
    workers and ffmpeg run in process groups of their own within the render's session; manim
    runs in sessions of its own, but its command line names the test's files).
    """
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if proc.pid == os.getpid():
            continue
        try:
            in_session = os.getsid(proc.pid) == session
        except OSError:
            continue
        if in_session or any(str(marker) in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def named(name: str) -> Callable[[], list[psutil.Process]]:
    """A finder of this process's descendants whose executable is called ``name``."""

    def find() -> list[psutil.Process]:
        found = []
        for proc in descendants().values():
            try:
                if proc.name() == name:
                    found.append(proc)
            except psutil.Error:
                continue
        return found

    return find


class Background:
    """A render running on a thread of this process."""

    def __init__(self, name: str, job: RenderJob) -> None:
        self.result: RenderResult | None = None
        self.error: BaseException | None = None
        self.finished_at = 0.0
        self._thread = threading.Thread(target=self._run, args=(name, job), daemon=True)
        self._thread.start()

    def _run(self, name: str, job: RenderJob) -> None:
        try:
            self.result = get_renderer(name).render(job)
        except BaseException as exc:
            self.error = exc
        finally:
            self.finished_at = time.monotonic()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the render did not end within {timeout} s"

    def failure(self, timeout: float) -> BaseException:
        self.join(timeout)
        assert self.error is not None, "the render succeeded"
        return self.error


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture
def leaves_nothing(scratch_root: Path, out_dir: Path) -> Iterator[None]:
    """After the test: every process the test started has gone, the scratch root is empty."""
    before = set(descendants())
    yield
    new = [p for pid, p in descendants().items() if pid not in before]
    assert wait_until_gone(new) == []
    assert list(scratch_root.iterdir()) == []


def clip_job(
    out_dir: Path,
    factory: str = FAULTY,
    clip: dict[str, Any] | None = None,
    name: str = "video.mp4",
    **changes: Any,
) -> RenderJob:
    """A job for a small clip from ``factory`` (called with ``clip``); ``changes``: job fields."""
    job = RenderJob(
        ClipSource(factory, {**SMALL, **(clip or {})}),
        out_dir / name,
        workers=2,
        encoder=EncoderSpec(preset="ultrafast"),
        audio=False,
    )
    return dataclasses.replace(job, **changes)


@dataclasses.dataclass(frozen=True)
class Scenes:
    """The Manim test script, written with its placeholders pointing into ``root``."""

    root: Path
    script: Path

    @property
    def started(self) -> Path:
        return self.root / "started"

    @property
    def attempts(self) -> Path:
        return self.root / "attempts"

    def source(self, *scenes: str, fps: Fraction | None = None) -> ManimSource:
        return ManimSource(self.script, scenes, quality="l", fps=fps)


@pytest.fixture
def scenes(tmp_path: Path) -> Scenes:
    root = tmp_path / "manim"
    root.mkdir()
    script = root / "scenes.py"
    text = MANIM_SCRIPT
    for placeholder, name in (("STARTED", "started"), ("ATTEMPTS", "attempts"), ("FLAG", "flag")):
        text = text.replace(f'"{placeholder}"', repr(str(root / name)))
    script.write_text(text)
    return Scenes(root, script)


def attempts(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


# ---------------------------------------------------------------------------------------------
# 1. A worker SIGKILLed mid-render


_TASK_LABEL = {"pipe": r"frame \d+", "chunk": r"chunk \d+ \(frames \d+\.\.\d+\)", "disk": r"frames \d+\.\.\d+"}


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize("name", PARALLEL)
def test_worker_killed_mid_render_raises_worker_lost(name: str, out_dir: Path, tmp_path: Path) -> None:
    started = tmp_path / "started"
    job = clip_job(out_dir, SLOW, {"delay": 0.2, "started": str(started), "duration": 3}, retries=0)
    render = Background(name, job)
    wait_for(started.exists, 60, "a worker's first frame")
    workers = wait_for(lambda: len(w := named("python")()) == 2 and w, 10, "both workers")
    # The newest worker: the one CPython's executor once failed to watch (see LocalPool.submit).
    victim = max(workers, key=lambda proc: proc.create_time()).pid
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    error = render.failure(timeout=30)
    # Well within the 30 s promised: the other worker's task still had ~8 s to run.
    assert render.finished_at - killed < 5
    assert isinstance(error, WorkerLost), repr(error)
    message = str(error)
    assert f"pid {victim} killed by signal 9 (SIGKILL)" in message
    assert re.search(rf"while rendering {_TASK_LABEL[name]}", message), message
    assert "1 attempt, retries=0" in message
    assert list(out_dir.iterdir()) == []


def test_local_pool_names_only_the_task_its_dead_worker_ran() -> None:
    # Once one worker dies, every unfinished future fails alike (the survivor is terminated):
    # the pool must tell the task of the worker that died from the one that was cut short.
    pool = local.LocalPool(2, local.default_start_method())
    try:
        assert pool.submit(pow, 2, 10).result(timeout=60) == 1024
        cut_short = pool.submit(time.sleep, 30)
        doomed = pool.submit(faulty_clips.die_after, 0.5)
        wait_for(doomed.done, 60, "the worker's death")
        died, cut = doomed.exception(), cut_short.exception(timeout=10)
        assert died is not None and pool.is_worker_loss(died)
        assert cut is not None and pool.is_worker_loss(cut)
        assert pool.lost_futures() == {doomed}
        assert re.fullmatch(r"pid \d+ killed by signal 9 \(SIGKILL\)", pool.loss_detail())
    finally:
        pool.kill()


@pytest.mark.slow
@pytest.mark.usefixtures("leaves_nothing")
def test_manim_process_killed_mid_render_names_the_scene(scenes: Scenes, out_dir: Path) -> None:
    job = RenderJob(scenes.source("Short", "Sleepy"), out_dir / "video.mp4", workers=2, retries=0)
    render = Background("manim-scenes", job)
    victim = int(wait_for(lambda: scenes.started.exists() and scenes.started.read_text(), 90, "Sleepy to start"))
    os.kill(victim, signal.SIGKILL)
    error = render.failure(timeout=30)
    assert isinstance(error, ScenesFailed), repr(error)
    assert list(error.failures) == ["Sleepy"]
    assert error.failures["Sleepy"].returncode == -signal.SIGKILL
    assert "scene Sleepy failed: manim was killed by signal 9" in str(error)
    assert list(out_dir.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# 2. ffmpeg killed mid-render; ffmpeg's own failures; exit status checked on close


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize("name", PARALLEL)
def test_ffmpeg_killed_mid_render_raises_ffmpeg_error(name: str, out_dir: Path, tmp_path: Path) -> None:
    started = tmp_path / "started"
    if name == "disk":
        # The encode of the image files is the ffmpeg to kill: the realtime filter makes it take
        # the clip's duration (3 s) instead of a blink.
        realtime = EncoderSpec.parse("libx264:ultrafast:23:vf=realtime")
        job = clip_job(out_dir, SLOW, {"delay": 0, "duration": 3}, encoder=realtime)
    else:
        job = clip_job(out_dir, SLOW, {"delay": 0.1, "started": str(started), "duration": 3})
    render = Background(name, job)
    # The encoder, not a probe: it reads image files (disk) or raw frames on its stdin.
    reads = "image2" if name == "disk" else "rawvideo"
    encoders = lambda: [p for p in named("ffmpeg")() if reads in _cmdline(p).split()]  # noqa: E731
    victim = wait_for(encoders, 60, "ffmpeg to start encoding")[0]
    victim.kill()
    error = render.failure(timeout=30)
    assert isinstance(error, FFmpegError), repr(error)
    assert error.returncode == -signal.SIGKILL
    assert "failed (killed by signal 9)" in str(error)
    assert isinstance(error.stderr, str)
    assert list(out_dir.iterdir()) == []


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize("name", PARALLEL)
def test_ffmpeg_failing_mid_stream_carries_its_message(name: str, out_dir: Path) -> None:
    # pad to 100x100 passes the encoder check (64x64 frames) and fails on the 160x90 frames.
    job = clip_job(out_dir, FRAME_INDEX, encoder=EncoderSpec.parse("libx264:ultrafast:23:vf=pad=100:100"))
    with pytest.raises(FFmpegError) as caught:
        get_renderer(name).render(job)
    assert caught.value.returncode not in (0, None)
    assert "Padded dimensions cannot be smaller than input dimensions" in caught.value.stderr
    assert "Padded dimensions cannot be smaller than input dimensions" in str(caught.value)  # the tail is in the message
    assert list(out_dir.iterdir()) == []


def test_frame_writer_checks_the_exit_status_on_close(tmp_path: Path) -> None:
    import numpy as np

    fmt = RawFormat(64, 48, Fraction(30))
    writer = FrameWriter(tmp_path / "out.mp4", fmt, EncoderSpec(preset="ultrafast"))
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    os.kill(writer.pid, signal.SIGKILL)  # every write went through; the process did not end well
    with pytest.raises(FFmpegError, match=r"ffmpeg encoding out\.mp4 failed \(killed by signal 9\)"):
        writer.close()


# ---------------------------------------------------------------------------------------------
# 3. A frame that never returns


@pytest.mark.slow
@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize("name", PARALLEL)
def test_hung_frame_times_out_and_the_workers_are_stopped(name: str, out_dir: Path) -> None:
    job = clip_job(out_dir, FAULTY, {"fault": "hang", "at": 4}, timeout=2.0)
    started = time.monotonic()
    with pytest.raises(TaskTimeout, match=r"did not finish within the 2 s timeout per task .*the workers were stopped"):
        get_renderer(name).render(job)
    assert time.monotonic() - started < 2.0 + 15
    assert list(out_dir.iterdir()) == []
    # leaves_nothing: the hung worker (a forkserver child, which the pool's own bookkeeping
    # cannot see once it is broken) is gone too.


# ---------------------------------------------------------------------------------------------
# 4 and 5. Signals to a render running in its own process


def _child_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    temp = tmp_path / "child-tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": str(ROOT)}
    return env, temp


def _cli(
    tmp_path: Path, args: list[str], *, ignore_sigint: bool = False
) -> tuple[subprocess.Popen[bytes], Path]:
    """``renderbench render ARGS`` in its own session (like a shell job in a terminal).

    ``ignore_sigint``: started with SIGINT ignored, as a shell starts a background job.
    """
    env, temp = _child_env(tmp_path)
    log = open(tmp_path / "child.log", "wb")  # noqa: SIM115 - the child holds it

    def ignore() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.render_cli", *args, "--quiet"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=ignore if ignore_sigint else None,
    )  # fmt: skip
    log.close()
    return proc, temp


_CHILD_RENDER = """
import json, sys
from pathlib import Path
from impls import ClipSource, EncoderSpec, RenderJob, get_renderer
spec = json.loads(sys.argv[1])
for name in spec["renderers"]:
    job = RenderJob(
        ClipSource(spec["factory"], spec["kwargs"]),
        Path(spec["output"]).with_name(name + ".mp4"),
        workers=2,
        encoder=EncoderSpec.parse(spec["encoder"]),
        audio=False,
        options=spec.get("options", {}),
    )
    result = get_renderer(name).render(job)
    print(name, result.frames, result.info.get("start_method"), flush=True)
"""


def _script(tmp_path: Path, spec: dict[str, Any], flags: tuple[str, ...] = ()) -> tuple[subprocess.Popen[bytes], Path]:
    """A small program rendering ``spec`` with the library, in its own process group."""
    env, temp = _child_env(tmp_path)
    log = open(tmp_path / "child.log", "wb")  # noqa: SIM115 - the child holds it
    proc = subprocess.Popen(
        [sys.executable, *flags, "-c", _CHILD_RENDER, json.dumps(spec)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    log.close()
    return proc, temp


def _child_log(tmp_path: Path) -> str:
    return (tmp_path / "child.log").read_text(errors="replace")


def _render_args(name: str, out_dir: Path, tmp_path: Path, scenes: Scenes | None) -> list[str]:
    if name.startswith("manim"):
        assert scenes is not None
        return [str(scenes.script), "Short", "Sleepy", str(out_dir / "video.mp4"), "--method", name, "--workers", "2"]
    kwargs = {**SMALL, "delay": 0.1, "started": str(tmp_path / "started"), "duration": 4}
    return [SLOW, str(out_dir / "video.mp4"), "--method", name, "--workers", "2", "--no-audio",
            "--preset", "ultrafast", "--kwargs", json.dumps(kwargs)]  # fmt: skip


def _wait_started(name: str, tmp_path: Path, scenes: Scenes | None, proc: subprocess.Popen[bytes]) -> None:
    marker = scenes.started if scenes is not None and name.startswith("manim") else tmp_path / "started"

    def started() -> bool:
        assert proc.poll() is None, f"the render ended early:\n{_child_log(tmp_path)}"
        return marker.exists()

    wait_for(started, 90, "the render to start")


@pytest.fixture
def manim_scenes(request: pytest.FixtureRequest, tmp_path: Path) -> Scenes | None:
    name = request.node.callspec.params["name"]
    return request.getfixturevalue("scenes") if name.startswith("manim") else None


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "expected"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
    ids=["SIGINT-group", "SIGTERM-parent"],
)
@pytest.mark.parametrize("name", [*PARALLEL, "manim-scenes"])
def test_signal_stops_the_render_cleanly(
    name: str, signum: int, expected: int, tmp_path: Path, out_dir: Path, manim_scenes: Scenes | None
) -> None:
    proc, temp = _cli(tmp_path, _render_args(name, out_dir, tmp_path, manim_scenes))
    try:
        _wait_started(name, tmp_path, manim_scenes, proc)
        tree = list(descendants(proc.pid, services=True).values())
        assert tree, "the render has no processes to stop"
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground process group
        else:
            os.kill(proc.pid, signal.SIGTERM)  # a service manager stopping the program
        sent = time.monotonic()
        code = proc.wait(timeout=30)
        waited = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log = _child_log(tmp_path)
    assert code == expected, log
    assert waited < 15, f"took {waited:.1f} s to stop"
    assert ("interrupted" if signum == signal.SIGINT else "terminated by signal 15") in log
    assert wait_until_gone(tree) == []  # workers, ffmpeg, manim and its launcher, mp services
    assert alive(strays(tmp_path, proc.pid)) == []
    assert list(out_dir.iterdir()) == []
    assert list(temp.iterdir()) == []


@pytest.fixture(scope="module")
def full_hd_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A full-HD video file with sound: frames heavy enough that the render's own process
    spends its time blocked writing them to ffmpeg (pipe), or waiting on workers that read
    and encode them (chunk, disk)."""
    return make_video(tmp_path_factory.mktemp("media") / "full-hd.mp4", "1920x1080", 2.5)


def _ctrl_c_mid_render(
    name: str, tmp_path: Path, proc: subprocess.Popen[bytes], timeout: float
) -> tuple[int, list[psutil.Process]]:
    """Ctrl-C to the render's whole process group once it is well into its frames (readers,
    workers and encoders all busy); its exit status, and the processes it had then."""
    try:
        _wait_started(name, tmp_path, None, proc)
        time.sleep(1.0)
        tree = list(descendants(proc.pid, services=True).values())
        os.killpg(proc.pid, signal.SIGINT)
        return proc.wait(timeout=timeout), tree
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _edit_args(source: Path, name: str, out_dir: Path, tmp_path: Path) -> list[str]:
    kwargs = {"source": str(source), "marker": str(tmp_path / "no-kill"), "started": str(tmp_path / "started")}
    return ["tests.faulty_clips:reader_dies", str(out_dir / "video.mp4"), "--method", name,
            "--workers", "2", "--preset", "medium", "--kwargs", json.dumps(kwargs)]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", PARALLEL)
def test_ctrl_c_with_heavy_frames_is_an_interrupt_not_an_ffmpeg_error(
    name: str, full_hd_source: Path, tmp_path: Path, out_dir: Path
) -> None:
    """Ctrl-C reaches the whole foreground process group: the encoder and the file readers
    must not die of it before the render's own process has unwound (exit 130, not 1)."""
    proc, temp = _cli(tmp_path, _edit_args(full_hd_source, name, out_dir, tmp_path))
    code, tree = _ctrl_c_mid_render(name, tmp_path, proc, timeout=30)
    log = _child_log(tmp_path)
    assert code == 130, log
    assert "interrupted" in log and "ffmpeg" not in log, log
    assert wait_until_gone(tree) == []
    assert alive(strays(tmp_path, proc.pid)) == []
    assert list(out_dir.iterdir()) == []
    assert list(temp.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pipe", "chunk"])
def test_a_render_that_ignores_ctrl_c_is_not_broken_by_it(
    name: str, full_hd_source: Path, tmp_path: Path, out_dir: Path
) -> None:
    """Only the render's own process decides what Ctrl-C means: one started with SIGINT
    ignored (a shell's background job) finishes correctly, its readers and encoders intact."""
    proc, _ = _cli(tmp_path, _edit_args(full_hd_source, name, out_dir, tmp_path), ignore_sigint=True)
    code, _ = _ctrl_c_mid_render(name, tmp_path, proc, timeout=120)
    log = _child_log(tmp_path)
    assert code == 0, log
    assert "last valid frame" not in log, log  # no reader died and had its frame repeated
    assert count_packets(out_dir / "video.mp4") == 75


@pytest.mark.slow
@pytest.mark.parametrize("name", [*PARALLEL, "manim-scenes"])
def test_children_do_not_outlive_a_killed_parent(
    name: str, tmp_path: Path, out_dir: Path, manim_scenes: Scenes | None
) -> None:
    if name.startswith("manim"):
        proc, _ = _cli(tmp_path, _render_args(name, out_dir, tmp_path, manim_scenes))
        _wait_started(name, tmp_path, manim_scenes, proc)
        wanted = ("manim",)
    else:
        spec: dict[str, Any] = {
            "renderers": [name], "output": str(out_dir / "video.mp4"), "factory": SLOW,
            "kwargs": {**SMALL, "delay": 0.1, "started": str(tmp_path / "started"), "duration": 4},
            "encoder": "libx264:ultrafast:23",
        }  # fmt: skip
        if name == "disk":
            # Killed while ffmpeg encodes the image files (started by the parent, reading files,
            # no pipe that would tell it): the frames are quick, the realtime filter keeps the
            # encode going for the clip's 4 s.
            spec["kwargs"]["delay"] = 0
            spec["encoder"] = "libx264:ultrafast:23:vf=realtime"
        proc, _ = _script(tmp_path, spec)
        if name != "disk":
            _wait_started(name, tmp_path, None, proc)
        wanted = ("ffmpeg",)

    def running() -> list[psutil.Process]:
        assert proc.poll() is None, f"the render ended early:\n{_child_log(tmp_path)}"
        tree = list(descendants(proc.pid, services=True).values())
        found = [p for p in tree if any(w in _cmdline(p) for w in wanted)]
        return tree if found and (name != "disk" or any("image2" in _cmdline(p) for p in found)) else []

    tree: list[psutil.Process] = []
    try:
        tree = wait_for(running, 90, f"{wanted[0]} to run")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        left = wait_until_gone(tree)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for process in tree:  # whatever the test found alive must not outlive it either
            with contextlib.suppress(psutil.Error):
                process.kill()
    assert left == [], f"outlived their parent by {GRACE_S} s:\n" + "\n".join(left)
    assert alive(strays(tmp_path, proc.pid)) == []
    # Without its clean-up the parent leaves its scratch directory and hidden partial file; the
    # output path itself is never written.
    assert not (out_dir / "video.mp4").exists()


def test_exit_on_sigterm_raises_terminated_and_restores_the_handler() -> None:
    from impls import Terminated, exit_on_sigterm

    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as caught, exit_on_sigterm():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted: the handler raises in this (the main) thread
    assert caught.value.code == 143 and isinstance(caught.value, SystemExit)
    assert str(caught.value) == "terminated by signal 15 (SIGTERM)"
    assert signal.getsignal(signal.SIGTERM) == previous


# ---------------------------------------------------------------------------------------------
# 6. Atomic output


def _watch_output(render: Background, output: Path) -> list[int | None]:
    """Sizes of ``output`` seen while the render ran (None: absent), until it ended."""
    seen: list[int | None] = []
    while render.running:
        try:
            seen.append(output.stat().st_size)
        except FileNotFoundError:
            seen.append(None)
        time.sleep(0.005)
    return seen


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize("name", [*CLIP_PARAMS, MANIM_PARAMS[1]])
def test_output_path_only_ever_holds_the_finished_video(
    name: str, out_dir: Path, scenes: Scenes
) -> None:
    output = out_dir / "video.mp4"
    if name.startswith("manim"):
        job = RenderJob(scenes.source("Short"), output, workers=1)
    else:
        job = clip_job(out_dir, FRAME_INDEX, {"duration": 2})
    render = Background(name, job)
    seen = _watch_output(render, output)
    render.join(60)
    assert render.error is None, repr(render.error)
    final = output.stat().st_size
    assert seen.count(None) > 10  # watched while it rendered
    assert {size for size in seen if size is not None} <= {final}  # never a partial file
    assert [p.name for p in out_dir.iterdir()] == ["video.mp4"]


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize("name", [*CLIP_PARAMS, *MANIM_PARAMS])
def test_failed_render_leaves_an_existing_output_unchanged(name: str, out_dir: Path, scenes: Scenes) -> None:
    output = out_dir / "video.mp4"
    output.write_bytes(b"last week's good render")
    if name.startswith("manim"):
        job = RenderJob(scenes.source("Boom"), output, workers=2)
        error: type[Exception] = ScenesFailed
    else:
        job = clip_job(out_dir, FAULTY, {"fault": "raise", "at": 2})
        # The baseline is MoviePy's own write_videofile: the user's exception comes through.
        error = Boom if name == "baseline" else FrameFailed
    with pytest.raises(error):
        get_renderer(name).render(job)
    assert output.read_bytes() == b"last week's good render"
    assert list(out_dir.iterdir()) == [output]


# ---------------------------------------------------------------------------------------------
# 7. Bad input: rejected before any worker, ffmpeg or manim starts, naming the problem

#: Commands the early checks run themselves (cached per binary/encoder): the check is the point.
_CHECKS = ("-version", "-encoders", "-codecs", "--help", "find_spec('manim')", "color=c=gray:s=64x64")


@pytest.fixture
def nothing_starts(monkeypatch: pytest.MonkeyPatch, scratch_root: Path) -> Iterator[list[list[str]]]:
    """Records every process started (pools included); after the test, only checks ran."""
    # MoviePy runs ffmpeg and ffplay once when first imported, to check them: not ours to count.
    use_for_moviepy()
    import moviepy  # noqa: F401

    started: list[list[str]] = []
    real_popen = subprocess.Popen

    class Recording(real_popen):  # type: ignore[misc,valid-type]
        def __init__(self, args: Any, *more: Any, **kwargs: Any) -> None:
            started.append([str(arg) for arg in ([args] if isinstance(args, str | Path) else args)])
            super().__init__(args, *more, **kwargs)

    class RecordingExecutor(local.LocalExecutor):
        def open(self) -> local.LocalPool:
            started.append(["<process pool>"])
            return super().open()

    monkeypatch.setattr(subprocess, "Popen", Recording)
    register_executor(RecordingExecutor)  # in place of the local executor
    before = set(descendants())
    try:
        yield started
    finally:
        unregister_executor(RecordingExecutor.name)
    work = [cmd for cmd in started if not any(check in " ".join(cmd) for check in _CHECKS)]
    assert work == [], "started before the input was checked"
    assert set(descendants()) <= before
    assert list(scratch_root.iterdir()) == []


def _unwritable_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        # Privileged (root): permission bits do not stop it. /proc/sys refuses every user.
        folder = Path("/proc/sys")
    assert folder.is_dir() and not os.access(folder, os.W_OK)
    return folder


def _path_without(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *missing: str) -> None:
    """PATH with only the tools not listed in ``missing`` (ffmpeg, ffprobe; never latex)."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for tool in ("ffmpeg", "ffprobe"):
        found = shutil.which(tool)
        if tool not in missing and found is not None and not (folder / tool).exists():
            (folder / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(folder))
    for variable in ("RENDERBENCH_FFMPEG", "RENDERBENCH_FFPROBE"):
        monkeypatch.delenv(variable, raising=False)


def _python_without_manim(tmp: Path) -> str:
    """A real interpreter that cannot see the installed packages (-S: no site-packages)."""
    python = tmp / "python-without-site"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    python.chmod(0o755)
    return str(python)


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What a bad-input case builds its job from, for a MoviePy or a Manim renderer."""

    tmp: Path
    monkeypatch: pytest.MonkeyPatch
    scenes: Scenes
    manim: bool

    def job(self, source: ClipSource | ManimSource | None = None, **changes: Any) -> RenderJob:
        """A good job (a 1 s clip, or the Short scene) with ``changes``."""
        if source is None:
            source = self.scenes.source("Short") if self.manim else ClipSource(FRAME_INDEX, {**SMALL, "duration": 1})
        return dataclasses.replace(RenderJob(source, self.tmp / "out" / "video.mp4"), **changes)

    def factory(self, factory: str, **kwargs: Any) -> RenderJob:
        return self.job(ClipSource(factory, {**SMALL, "duration": 1, **kwargs}))

    def without(self, *tools: str, source: ManimSource | None = None) -> RenderJob:
        """The job for ``source`` (default: the good one) on a PATH without ``tools`` nor latex."""
        _path_without(self.tmp, self.monkeypatch, *tools)
        return self.job(source)


Case = tuple[Callable[[Inputs], RenderJob], type[Exception], str]
BAD_FACTORY = "tests.faulty_clips:bad"

COMMON_BAD: dict[str, Case] = {
    "workers-0": (lambda i: i.job(workers=0), InvalidJob, r"workers must be an integer >= 1.*got 0"),
    "workers-negative": (lambda i: i.job(workers=-2), InvalidJob, r"workers must be an integer >= 1.*got -2"),
    "fps-0": (lambda i: i.job(fps=0), InvalidJob, r"fps must be > 0, got 0"),
    "fps-negative": (lambda i: i.job(fps=-24), InvalidJob, r"fps must be > 0, got -24"),
    "fps-nan": (lambda i: i.job(fps=math.nan), InvalidJob, r"fps must be finite and > 0, got nan"),
    "unknown-encoder": (lambda i: i.job(encoder=EncoderSpec(codec="libnope")), EncoderUnavailable, r"encoder 'libnope' is not available in this ffmpeg; available: .*libx264"),
    "output-dir-missing": (lambda i: i.job(output=i.tmp / "nowhere" / "video.mp4"), InvalidJob, r"output directory .*nowhere does not exist"),
    "output-dir-read-only": (lambda i: i.job(output=_unwritable_dir(i.tmp) / "video.mp4"), InvalidJob, r"output directory .* is not writable"),
    "no-ffmpeg": (lambda i: i.without("ffmpeg"), ToolNotFound, r"ffmpeg not found: install it \(Debian/Ubuntu: apt-get install ffmpeg\)"),
    "no-ffprobe": (lambda i: i.without("ffprobe"), ToolNotFound, r"ffprobe not found: install it"),
}  # fmt: skip

CLIP_BAD: dict[str, Case] = {
    "duration-none": (lambda i: i.factory(BAD_FACTORY, kind="duration_none"), InvalidSource, r"has duration None; it needs a finite duration > 0 \(set it with clip.with_duration"),
    "duration-0": (lambda i: i.factory(BAD_FACTORY, kind="duration_zero"), InvalidSource, r"has duration 0; it needs a finite duration > 0"),
    "duration-negative": (lambda i: i.factory(BAD_FACTORY, kind="duration_negative"), InvalidSource, r"has duration -1.0; it needs a finite duration > 0"),
    "clip-fps-0": (lambda i: i.factory(BAD_FACTORY, kind="fps_zero"), InvalidJob, r"fps must be > 0, got 0"),
    "clip-fps-negative": (lambda i: i.factory(BAD_FACTORY, kind="fps_negative"), InvalidJob, r"fps must be > 0, got -30"),
    "clip-fps-nan": (lambda i: i.factory(BAD_FACTORY, kind="fps_nan"), InvalidJob, r"fps must be finite and > 0, got nan"),
    "clip-fps-none": (lambda i: i.factory(BAD_FACTORY, kind="fps_none"), InvalidJob, r"the clip has no fps: set clip.fps or give the job an fps"),
    "odd-size-yuv420p": (lambda i: i.factory(BAD_FACTORY, kind="odd"), InvalidJob, r"frame size 161x91 is odd, which yuv420p cannot encode .*clip.resized\(\(160, 90\)\), or use pix_fmt='yuv444p'"),
    "factory-not-importable": (lambda i: i.factory("no_such_package.clips:make"), InvalidSource, r"cannot import factory module 'no_such_package.clips'"),
    "factory-attribute-missing": (lambda i: i.factory("tests.faulty_clips:nope"), InvalidSource, r"module 'tests.faulty_clips' has no attribute 'nope'"),
    "factory-returns-non-clip": (lambda i: i.factory(BAD_FACTORY, kind="not_a_clip"), InvalidSource, r"returned ndarray, not a MoviePy VideoClip"),
    **COMMON_BAD,
}  # fmt: skip

MANIM_BAD: dict[str, Case] = {
    "script-missing": (lambda i: i.job(ManimSource(i.tmp / "nope.py", ("Short",))), InvalidSource, r"Manim script .*nope.py does not exist"),
    "scene-absent": (lambda i: i.job(i.scenes.source("Short", "Missing")), InvalidSource, r"scene\(s\) Missing not defined in .*scenes.py \(classes there: .*Short"),
    "manim-not-installed": (lambda i: i.job(options={"python": _python_without_manim(i.tmp)}), ToolNotFound, r"manim not found: it is not installed in .*pip install manim"),
    "mathtex-without-latex": (lambda i: i.without(source=i.scenes.source("Formula")), ToolNotFound, r"latex not found: scenes.py uses MathTex, which needs latex and dvisvgm on PATH; install them, e.g. apt-get install .*texlive-latex-base"),
    **COMMON_BAD,
}  # fmt: skip

_BAD_CASES = [
    pytest.param(name, key, id=f"{name}-{key}")
    for names, cases in ((CLIP_RENDERERS, CLIP_BAD), (MANIM_RENDERERS, MANIM_BAD))
    for name in names
    for key in cases
]


@pytest.mark.parametrize(("name", "key"), _BAD_CASES)
def test_bad_input_is_rejected_before_anything_starts(
    name: str,
    key: str,
    tmp_path: Path,
    out_dir: Path,
    scenes: Scenes,
    monkeypatch: pytest.MonkeyPatch,
    nothing_starts: list[list[str]],
) -> None:
    manim = name.startswith("manim")
    make, error, message = (MANIM_BAD if manim else CLIP_BAD)[key]
    with pytest.raises(error, match=message):
        get_renderer(name).render(make(Inputs(tmp_path, monkeypatch, scenes, manim)))
    assert list(out_dir.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# 8. Transient failures are retried (and counted), deterministic ones are not


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize("name", PARALLEL)
def test_user_error_is_never_retried(name: str, out_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "attempts"
    job = clip_job(out_dir, "tests.faulty_clips:attempts", {"at": 7, "log": str(log)}, retries=3)
    with pytest.raises(FrameFailed, match="frame 7 .* deterministic user error"):
        get_renderer(name).render(job)
    assert attempts(log) == 1
    assert list(out_dir.iterdir()) == []


@pytest.mark.slow
@pytest.mark.usefixtures("leaves_nothing")
def test_manim_scene_killed_once_is_retried_and_counted(scenes: Scenes, out_dir: Path) -> None:
    job = RenderJob(scenes.source("Flaky"), out_dir / "video.mp4", workers=1)  # retries: 1
    result = get_renderer("manim-scenes").render(job)
    assert attempts(scenes.attempts) == 2
    assert result.retries == 1
    assert count_packets(job.output) == result.frames == SHORT_FRAMES


@pytest.mark.slow
@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize(
    ("scene", "retries", "tries"),
    [("AlwaysKilled", 2, 3), ("Boom", 3, 1)],
    ids=["killed-every-time", "scene-error"],
)
def test_manim_retries_stop_at_the_limit_and_skip_user_errors(
    scene: str, retries: int, tries: int, scenes: Scenes, out_dir: Path
) -> None:
    job = RenderJob(scenes.source(scene), out_dir / "video.mp4", workers=1, retries=retries)
    with pytest.raises(ScenesFailed, match=f"scene {scene} failed"):
        get_renderer("manim-scenes").render(job)
    assert attempts(scenes.attempts) == tries
    assert list(out_dir.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# 9. Exact NTSC rates


@pytest.mark.parametrize("rate", [Fraction(30000, 1001), Fraction(24000, 1001)], ids=["29.97", "23.976"])
@pytest.mark.parametrize("name", PARALLEL)
def test_ntsc_rate_is_kept_exactly(name: str, rate: Fraction, out_dir: Path) -> None:
    clip_fps = float(rate) if rate.numerator == 30000 else 23.976  # as users write them
    job = clip_job(out_dir, FRAME_INDEX, {"fps": clip_fps, "duration": 2})
    result = get_renderer(name).render(job)
    frames = int(2 * clip_fps)  # MoviePy's count: int(duration * fps)
    assert result.fps == rate and result.frames == frames
    assert frames_and_rate(job.output) == (frames, rate)
    assert decode_indices(job.output) == list(range(frames))


def test_baseline_rounds_ntsc_rates(out_dir: Path) -> None:
    """A limitation of MoviePy's write_videofile, which passes ``-r`` with two decimals."""
    job = clip_job(out_dir, FRAME_INDEX, {"duration": 1}, fps=Fraction(30000, 1001))
    result = get_renderer("baseline").render(job)
    assert result.fps == Fraction(30000, 1001)  # what was asked
    assert frames_and_rate(job.output)[1] == Fraction(2997, 100)  # what MoviePy wrote


@pytest.mark.parametrize("rate", [Fraction(30), Fraction(30000, 1001)], ids=["30", "29.97"])
def test_chunk_renders_to_matroska(rate: Fraction, out_dir: Path) -> None:
    """Matroska segments carry no per-stream duration; the concat must not need one."""
    job = clip_job(out_dir, FRAME_INDEX, {"duration": 2, "audio": True}, "video.mkv", fps=rate, audio=True)
    result = get_renderer("chunk").render(job)
    frames = int(2 * float(rate))
    assert result.info["chunks"] == 2
    assert frames_and_rate(job.output) == (frames, rate)
    assert decode_indices(job.output) == list(range(frames))
    assert {s["codec_type"] for s in probe(job.output)["streams"]} == {"video", "audio"}


@pytest.mark.slow
def test_manim_ntsc_rate_is_kept_exactly_across_scenes(scenes: Scenes, out_dir: Path) -> None:
    """Scenes are joined at their frames' length, not at the run time manim states.

    (Within one scene of several animations manim 0.22 itself joins its partial movies at
    the stated run times: at NTSC rates its own file has a timestamp gap and reads as 30 fps.
    One animation per scene keeps this test about renderbench's joins.)
    """
    rate = Fraction(30000, 1001)
    job = RenderJob(scenes.source("One", "One", fps=rate), out_dir / "video.mp4", workers=2)
    result = get_renderer("manim-scenes").render(job)
    # len(arange(0, 0.6, 1001/30000)) = 18 frames per scene
    assert result.fps == rate and result.frames == 2 * 18
    assert frames_and_rate(job.output) == (result.frames, rate)


# ---------------------------------------------------------------------------------------------
# 10. Leak soak


def _cmdline(proc: psutil.Process) -> str:
    """A process's command line, or "" once it has exited (a zombie has none to read)."""
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


@pytest.fixture
def created_in_shm(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The names in /dev/shm of the shared-memory blocks and semaphores this process creates
    while the test runs (multiprocessing names them at random: they are noted as they are
    made). /dev/shm is shared with every process on the machine, whose entries come and go."""
    from multiprocessing import shared_memory, synchronize

    created: set[str] = set()
    block_name: Callable[[], str] = getattr(shared_memory, "_make_filename")
    lock_name: Callable[[], str] = getattr(synchronize.SemLock, "_make_name")

    def noted_block() -> str:
        name = block_name()
        created.add(name.lstrip("/"))
        return name

    def noted_lock() -> str:
        name = lock_name()
        created.add("sem." + name.lstrip("/"))
        return name

    monkeypatch.setattr(shared_memory, "_make_filename", noted_block)
    monkeypatch.setattr(synchronize.SemLock, "_make_name", staticmethod(noted_lock))
    return created


@pytest.mark.slow
def test_hundred_renders_leak_nothing(
    out_dir: Path, scratch_root: Path, created_in_shm: set[str]
) -> None:
    me = psutil.Process()
    job = clip_job(out_dir, FRAME_INDEX, {"width": 64, "height": 36, "duration": 0.1}, workers=1)
    renderer = get_renderer("pipe")

    def state() -> dict[str, Any]:
        return {
            "fds": me.num_fds(),
            "threads": me.num_threads(),
            "children": set(descendants()),
            "scratch": sorted(p.name for p in scratch_root.iterdir()),
            "outputs": sorted(p.name for p in out_dir.iterdir()),
        }

    for _ in range(3):  # first renders import and cache (MoviePy, forkserver, encoder checks)
        renderer.render(job)
    before, rss = state(), me.memory_info().rss
    created_in_shm.clear()
    for _ in range(100):
        result = renderer.render(job)
        assert result.frames == 3
    after = state()
    # Of what the 100 renders made in /dev/shm, the shared-memory blocks (what pipe allocates)
    # must all be gone; a pool's semaphores go when the garbage collector takes the pool, so a
    # few of the last renders' may remain, where a leak would leave one or more per render.
    blocks = {name for name in created_in_shm if not name.startswith("sem.")}
    assert len(blocks) >= 100  # one per render: each is seen
    left = {name for name in created_in_shm if Path("/dev/shm", name).exists()}
    assert left & blocks == set()
    assert len(left) < 10, sorted(left)
    assert after == before
    assert (me.memory_info().rss - rss) / 2**20 < 50


# ---------------------------------------------------------------------------------------------
# 11. Start methods, with DeprecationWarnings as errors in the parent and in every worker


@pytest.mark.slow
@pytest.mark.parametrize("method", local.START_METHODS)
def test_start_methods_render_with_deprecation_warnings_as_errors(
    method: str, tmp_path: Path, out_dir: Path
) -> None:
    spec = {
        "renderers": list(PARALLEL), "output": str(out_dir / "video.mp4"), "factory": FRAME_INDEX,
        "kwargs": {**SMALL, "duration": 1}, "encoder": "libx264:ultrafast:23",
        "options": {"start_method": method},
    }  # fmt: skip
    # -W reaches the workers too: spawn and forkserver start them with the parent's flags.
    proc, temp = _script(tmp_path, spec, ("-W", "error::DeprecationWarning"))
    code = proc.wait(timeout=120)
    log = _child_log(tmp_path)
    assert code == 0, log
    assert log.split() == [word for name in PARALLEL for word in (name, "30", method)], log
    assert "Warning" not in log
    for name in PARALLEL:
        assert decode_indices(out_dir / f"{name}.mp4") == list(range(30))
    assert list(temp.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# 12. Two renders at once in one process


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize(("first", "second"), [("pipe", "pipe"), ("chunk", "chunk"), ("disk", "pipe")])
def test_concurrent_renders_do_not_interfere(first: str, second: str, out_dir: Path, tmp_path: Path) -> None:
    jobs = [
        clip_job(out_dir, SLOW, {"delay": 0.02, "duration": 2, "started": str(tmp_path / f"s{i}")}, f"{i}.mp4")
        for i in range(2)
    ]
    renders = [Background(first, jobs[0]), Background(second, jobs[1])]
    wait_for(lambda: all((tmp_path / f"s{i}").exists() for i in range(2)) or not any(r.running for r in renders), 60, "both renders")
    assert all(r.running for r in renders)  # really at the same time
    for render in renders:
        render.join(60)
        assert render.error is None, repr(render.error)
    for job in jobs:
        assert decode_indices(job.output) == list(range(60))
    assert sorted(p.name for p in out_dir.iterdir()) == ["0.mp4", "1.mp4"]


@pytest.mark.slow
@pytest.mark.usefixtures("leaves_nothing")
def test_concurrent_manim_renders_of_one_script(scenes: Scenes, out_dir: Path) -> None:
    jobs = [RenderJob(scenes.source("Short"), out_dir / f"{i}.mp4", workers=1) for i in range(2)]
    renders = [Background("manim-scenes", job) for job in jobs]
    for render in renders:
        render.join(120)
        assert render.error is None, repr(render.error)
    assert [count_packets(job.output) for job in jobs] == [SHORT_FRAMES] * 2
    assert framemd5(jobs[0].output) == framemd5(jobs[1].output)
    assert sorted(p.name for p in out_dir.iterdir()) == ["0.mp4", "1.mp4"]

