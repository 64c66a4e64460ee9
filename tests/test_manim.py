"""Manim renderers with real manim (-ql, tiny scenes), real ffmpeg and real processes."""

from __future__ import annotations

import math
import os
import pickle
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import psutil
import pytest

from harness.decode import framemd5, iter_rgb_frames, probe
from harness.workloads import explainer
from impls.errors import (
    InvalidJob,
    InvalidSource,
    SceneFailed,
    ScenesFailed,
    SceneTimeout,
    TaskTimeout,
    ToolNotFound,
)
from impls.ffmpeg import operations
from impls.ffmpeg.command import encoder_args
from impls.ffmpeg.operations import still_tail
from impls.ffmpeg.probe import count_packets
from impls.ffmpeg.process import run
from impls.manim import cli
from impls.manim.count import SceneCount
from impls.manim.preflight import TRACK_RATE
from impls.manim.ranges import balanced_ranges, plan_units
from impls.model.protocol import EncoderSpec, ManimSource, RenderJob, RenderResult
from impls.registry import get_renderer

# Frame counts at -ql (15 fps), by manim's arithmetic: animations give len(arange(0, t, 1/15)),
# a static wait int(t * 15); a wait with a time-based updater (one taking dt) is an animation.
SCRIPT = '''
import subprocess, sys, time
from pathlib import Path
from manim import *

class Two(Scene):
    def construct(self):
        circle = Circle()
        self.play(Create(circle), run_time=1.0)                 # 15 frames
        tracker = ValueTracker(0)
        dot = Dot()
        # Takes dt, so waits keep rendering; places the dot, never accumulates dt.
        dot.add_updater(lambda m, dt: m.move_to(RIGHT * tracker.get_value()))
        self.add(dot)
        self.play(tracker.animate.set_value(2), run_time=1.0)   # 15
        self.wait(0.5)                                          # time-based updater: 8
        self.remove(dot)
        self.play(FadeOut(circle), run_time=1.0)                # 15

class Short(Scene):
    def construct(self):
        self.play(Create(Square()), run_time=0.6)               # 9
        self.wait(0.3)                                          # static: 4

class Boom(Scene):
    def construct(self):
        self.play(Create(Triangle()), run_time=0.4)
        raise ValueError("boom-7f3a: the scene's own error")

class Hang(Scene):
    def construct(self):
        # A child of manim's in the same process group, to prove the whole group is killed.
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "hang-child-MARKER"])
        Path("MARKER_FILE").write_text("started")
        while True:
            time.sleep(0.2)

class Formula(Scene):
    def construct(self):
        self.play(Write(MathTex(r"e^{i\\pi} + 1 = 0")))
'''

TWO_FRAMES = 15 + 15 + 8 + 15
SHORT_FRAMES = 9 + 4
FPS = Fraction(15)
AAC_FRAME = 1024 / TRACK_RATE


@dataclass(frozen=True)
class Workspace:
    root: Path
    script: Path
    audio: dict[str, Path]  # Two: 2.0 s (shorter than its 53 frames), Short: 1.0 s (longer)

    def source(self, *scenes: str, audio: bool = True, padding: float = 0.0) -> ManimSource:
        narration = {s: self.audio[s] for s in scenes if audio and s in self.audio}
        return ManimSource(self.script, scenes, narration, quality="l", padding=padding)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("manim")
    script = root / "scenes.py"
    script.write_text(SCRIPT)
    audio = explainer.write_narration(root, seed=3, seconds={"Two": 2.0, "Short": 1.0}, scenes=("Two", "Short"))
    return Workspace(root, script, audio)


@pytest.fixture(scope="module")
def serial(ws: Workspace) -> RenderResult:
    """The reference: manim-serial on Two + Short, with narration."""
    return get_renderer("manim-serial").render(
        RenderJob(ws.source("Two", "Short"), ws.root / "serial.mp4", workers=2)
    )


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Make the system temp dir a fresh folder, to prove a render leaves nothing in it."""
    folder = tmp_path / "systmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder


def stream_durations(path: Path) -> dict[str, float]:
    return {s["codec_type"]: float(s["duration"]) for s in probe(path)["streams"]}


def processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with_text = any(text in part for part in (proc.info["cmdline"] or []))
        if with_text and proc.pid != os.getpid():
            found.append(proc)
    return found


# ---------------------------------------------------------------------------------------------
# Outputs


def test_serial_holds_last_frame_until_narration_ends(ws: Workspace, serial: RenderResult) -> None:
    short_total = math.ceil(1.0 * 15)  # Short's 13 frames held to its 1.0 s narration
    assert serial.frames == TWO_FRAMES + short_total
    assert count_packets(serial.output) == serial.frames
    assert serial.fps == FPS
    assert serial.info["scenes"] == [
        {"scene": "Two", "start": 0, "frames": TWO_FRAMES, "held": 0},
        {"scene": "Short", "start": TWO_FRAMES, "frames": SHORT_FRAMES, "held": short_total - SHORT_FRAMES},
    ]
    durations = stream_durations(serial.output)
    assert durations["video"] == pytest.approx(serial.frames / 15, abs=1e-3)
    assert abs(durations["audio"] - durations["video"]) <= AAC_FRAME


@pytest.mark.parametrize("name", ["manim-scenes", "manim-inflight", "manim-ranges"])
def test_renderer_matches_serial(ws: Workspace, serial: RenderResult, name: str, private_tmp: Path) -> None:
    output = ws.root / f"{name}.mp4"
    done: list[int] = []
    result = get_renderer(name).render(
        RenderJob(ws.source("Two", "Short"), output, workers=2, progress=done.append)
    )
    assert (result.frames, result.fps, result.duration) == (serial.frames, serial.fps, serial.duration)
    assert sum(done) == result.frames
    assert count_packets(output) == serial.frames
    assert result.info["scenes"] == serial.info["scenes"]
    durations = stream_durations(output)
    assert durations["video"] == pytest.approx(stream_durations(serial.output)["video"], abs=1e-3)
    assert abs(durations["audio"] - durations["video"]) <= AAC_FRAME
    # Same pictures in the same order as the serial reference.
    assert framemd5(output) == framemd5(serial.output)
    if name == "manim-ranges":
        assert result.info["ranges"] == {"Two": [[0, 1], [2, 3]]}
        assert result.info["fallback"] == []
    assert list(private_tmp.iterdir()) == []


def test_padding_adds_held_frames_and_silence(ws: Workspace, private_tmp: Path) -> None:
    output = ws.root / "padded.mp4"
    result = get_renderer("manim-scenes").render(
        RenderJob(ws.source("Short", padding=0.2), output, workers=1)
    )
    assert result.frames == math.ceil(1.0 * 15) + 3  # narration, then 0.2 s at 15 fps
    assert result.info["scenes"][0]["held"] == result.frames - SHORT_FRAMES
    durations = stream_durations(output)
    assert abs(durations["audio"] - durations["video"]) <= AAC_FRAME
    # The held frames show the scene's last picture (re-encoded: equal up to coding noise).
    pictures = [np.frombuffer(f, np.uint8) for f in iter_rgb_frames(output, 854, 480)]
    assert len(pictures) == result.frames
    last = pictures[SHORT_FRAMES - 1].astype(np.int16)
    for held in pictures[SHORT_FRAMES:]:
        assert np.abs(held - last).max() <= 16
    assert (np.abs(pictures[0] - last) > 40).sum() > 1000  # while the scene itself changes


def test_still_tail_seeks_and_falls_back_to_decoding_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = tmp_path / "count.mp4"
    run(
        ["-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x96:rate=15:duration=2",
         *encoder_args(EncoderSpec()), str(video)],
        "making a test video",
    )  # fmt: skip
    last = framemd5(video)[-1]
    fast, slow = tmp_path / "fast.mp4", tmp_path / "slow.mp4"
    still_tail(video, 29, 6, FPS, EncoderSpec(crf=0), fast)
    real_count = count_packets
    calls: list[Path] = []

    def seek_found_nothing(path: Path) -> int:
        calls.append(path)
        return 0 if len(calls) == 1 else real_count(path)

    monkeypatch.setattr(operations, "count_packets", seek_found_nothing)
    still_tail(video, 29, 6, FPS, EncoderSpec(crf=0), slow)
    assert len(calls) == 2  # the fallback ran and was checked
    assert framemd5(fast) == framemd5(slow) == [last] * 6


def test_same_class_name_in_two_scripts_do_not_collide(tmp_path: Path) -> None:
    sources = []
    for seconds in (0.6, 1.2):
        folder = tmp_path / f"s{seconds}"
        folder.mkdir()
        (folder / "scenes.py").write_text(
            "from manim import *\n"
            "class Scene1(Scene):\n"
            "    def construct(self):\n"
            f"        self.play(Create(Circle()), run_time={seconds})\n"
        )
        sources.append(ManimSource(folder / "scenes.py", ("Scene1",), quality="l"))
    results: dict[int, RenderResult] = {}

    def render(index: int) -> None:
        results[index] = get_renderer("manim-scenes").render(
            RenderJob(sources[index], tmp_path / f"out{index}.mp4", workers=1)
        )

    threads = [threading.Thread(target=render, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results[0].frames == 9 and results[1].frames == 18
    assert count_packets(tmp_path / "out0.mp4") == 9
    assert count_packets(tmp_path / "out1.mp4") == 18


def test_render_scene_is_a_standalone_picklable_unit(ws: Workspace, tmp_path: Path) -> None:
    task = cli.SceneTask(str(ws.script), "Short", quality="l", dest=None, work_root=str(tmp_path))
    shipped = pickle.loads(pickle.dumps(task))
    video = pickle.loads(pickle.dumps(cli.render_scene(shipped, cli.ManimProcesses())))
    assert video.path is None and video.data is not None
    copy = tmp_path / "short.mp4"
    copy.write_bytes(video.data)
    assert count_packets(copy) == SHORT_FRAMES
    assert [p.name for p in tmp_path.iterdir()] == ["short.mp4"]  # its private dir is gone


# ---------------------------------------------------------------------------------------------
# Failures


def test_failing_scene_is_named_with_manims_error_and_others_render(
    ws: Workspace, private_tmp: Path
) -> None:
    output = ws.root / "failed.mp4"
    with pytest.raises(ScenesFailed) as caught:
        get_renderer("manim-scenes").render(RenderJob(ws.source("Boom", "Short"), output, workers=2))
    error = caught.value
    assert list(error.failures) == ["Boom"]
    assert error.rendered == ("Short",)
    assert "scene Boom failed" in str(error)
    assert "boom-7f3a: the scene's own error" in str(error)
    assert "ValueError" in error.failures["Boom"].stderr
    assert not output.exists()
    assert list(private_tmp.iterdir()) == []


def test_partial_option_writes_the_scenes_that_rendered(ws: Workspace) -> None:
    output = ws.root / "partial.mp4"
    result = get_renderer("manim-scenes").render(
        RenderJob(ws.source("Boom", "Short"), output, workers=2, options={"partial": True})
    )
    assert list(result.failures) == ["Boom"]
    assert "boom-7f3a" in result.failures["Boom"]
    assert [scene["scene"] for scene in result.info["scenes"]] == ["Short"]
    assert count_packets(output) == result.frames == 15


def test_inflight_failure_names_the_failing_scene_and_those_not_reached(ws: Workspace) -> None:
    output = ws.root / "inflight-partial.mp4"
    result = get_renderer("manim-inflight").render(
        RenderJob(ws.source("Short", "Boom", "Two"), output, workers=2, options={"partial": True})
    )
    assert list(result.failures) == ["Boom", "Two"]
    assert "boom-7f3a" in result.failures["Boom"]
    assert "not rendered" in result.failures["Two"] and "Boom" in result.failures["Two"]
    assert count_packets(output) == result.frames == 15


def test_hung_scene_is_killed_at_its_timeout_with_its_process_group(
    ws: Workspace, tmp_path: Path, private_tmp: Path
) -> None:
    marker = f"hang-{os.getpid()}-{time.monotonic_ns()}"
    script = tmp_path / "hang.py"
    script.write_text(
        SCRIPT.replace("MARKER_FILE", str(tmp_path / "started")).replace("MARKER", marker)
    )
    timeout = 8.0
    started = time.monotonic()
    with pytest.raises(ScenesFailed) as caught:
        get_renderer("manim-scenes").render(
            RenderJob(ManimSource(script, ("Hang",)), tmp_path / "hang.mp4", timeout=timeout)
        )
    elapsed = time.monotonic() - started
    error = caught.value.failures["Hang"]
    assert isinstance(error, SceneTimeout) and isinstance(error, TaskTimeout)
    assert "timeout of 8 s" in str(error)
    assert (tmp_path / "started").exists()  # the scene really ran and started its child
    assert timeout <= elapsed < timeout + 10
    time.sleep(0.2)
    assert processes_mentioning(marker) == []
    assert processes_mentioning(str(script)) == []
    assert not (tmp_path / "hang.mp4").exists()
    assert list(private_tmp.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Preflight: named errors before any manim process starts


@pytest.fixture
def no_manim_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> cli.ManimRun:
        raise AssertionError("a manim process was started")

    monkeypatch.setattr(cli.ManimProcesses, "run", refuse)


@pytest.fixture
def path_without_latex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH with ffmpeg and ffprobe only, so latex is absent whatever this machine has."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("ffmpeg", "ffprobe"):
        found = shutil.which(tool)
        assert found is not None
        (folder / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(folder))


@pytest.mark.parametrize("name", ["manim-serial", "manim-scenes", "manim-inflight", "manim-ranges"])
def test_preflight_errors(
    ws: Workspace, tmp_path: Path, name: str, no_manim_process: None, path_without_latex: None
) -> None:
    renderer = get_renderer(name)
    out = tmp_path / "out.mp4"
    with pytest.raises(InvalidSource, match="does not exist"):
        renderer.render(RenderJob(ManimSource(tmp_path / "nope.py", ("Two",)), out))
    with pytest.raises(InvalidSource, match=r"Missing not defined in .*scenes\.py.*Two"):
        renderer.render(RenderJob(ManimSource(ws.script, ("Two", "Missing")), out))
    with pytest.raises(ToolNotFound, match="latex") as caught:
        renderer.render(RenderJob(ManimSource(ws.script, ("Formula",)), out))
    assert "MathTex" in str(caught.value) and "texlive-latex-base" in str(caught.value)
    with pytest.raises(InvalidSource, match="audio file .* for scene Two does not exist"):
        renderer.render(RenderJob(ManimSource(ws.script, ("Two",), {"Two": tmp_path / "x.wav"}), out))
    with pytest.raises(InvalidJob, match="unknown option"):
        renderer.render(RenderJob(ManimSource(ws.script, ("Two",)), out, options={"colour": 1}))
    assert not out.exists()


def test_preflight_unreadable_audio(ws: Workspace, tmp_path: Path, no_manim_process: None) -> None:
    noise = tmp_path / "noise.wav"
    noise.write_bytes(b"not audio at all" * 10)
    with pytest.raises(InvalidSource, match="noise.wav for scene Two is unreadable"):
        get_renderer("manim-scenes").render(
            RenderJob(ManimSource(ws.script, ("Two",), {"Two": noise}), tmp_path / "o.mp4")
        )


def test_latex_check_ignores_other_scenes_and_text_only_numbers(
    ws: Workspace, tmp_path: Path, no_manim_process: None, path_without_latex: None
) -> None:
    from impls.manim.preflight import latex_users, parse_script

    tree = parse_script(ws.script)
    assert latex_users(tree, ("Two", "Short")) == []
    assert latex_users(tree, ("Formula",)) == ["MathTex"]
    script = tmp_path / "numbers.py"
    script.write_text(
        "from manim import *\n"
        "class N(Scene):\n"
        "    def construct(self):\n"
        "        self.add(DecimalNumber(1.5, mob_class=Text), Integer(3))\n"
    )
    assert latex_users(parse_script(script), ("N",)) == ["Integer"]


def test_manim_missing_from_the_interpreter(
    ws: Workspace, tmp_path: Path, no_manim_process: None
) -> None:
    # A real interpreter that cannot see the installed packages (-S: no site-packages).
    python = tmp_path / "python-without-manim"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    python.chmod(0o755)
    job = RenderJob(ManimSource(ws.script, ("Two",)), tmp_path / "o.mp4", options={"python": str(python)})
    with pytest.raises(ToolNotFound, match="manim not found: it is not installed in .*pip install manim"):
        get_renderer("manim-scenes").render(job)
    assert get_renderer("manim-inflight").unavailable_reason(str(python)) is not None  # type: ignore[attr-defined]


def test_inflight_is_available_with_this_manim() -> None:
    renderer = get_renderer("manim-inflight")
    assert renderer.unavailable_reason() is None  # type: ignore[attr-defined]
    assert cli.has_option(sys.executable, "--max-inflight-encoders")


def test_scene_failed_survives_pickling() -> None:
    error = SceneTimeout("Hang", "did not finish", returncode=-9, stderr="tail")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, SceneTimeout) and copy.scene == "Hang" and str(copy) == str(error)
    aggregate = pickle.loads(pickle.dumps(ScenesFailed({"Hang": error}, ["Two"])))
    assert isinstance(aggregate.failures["Hang"], SceneFailed) and aggregate.rendered == ("Two",)


# ---------------------------------------------------------------------------------------------
# Ranges: balancing


@pytest.mark.parametrize(
    ("frames", "parts", "expected"),
    [
        ([15, 15, 8, 15], 2, [(0, 1), (2, 3)]),
        ([15, 15, 8, 15], 3, [(0, 0), (1, 1), (2, 3)]),
        ([1, 1, 1, 1, 100], 3, [(0, 3), (4, 4)]),  # more ranges would not shorten the longest
        ([40], 4, [(0, 0)]),
        ([0, 0, 5, 0], 2, [(0, 3)]),  # no range without frames
        ([10, 10, 10, 10, 10, 10], 4, [(0, 1), (2, 3), (4, 5)]),  # fewest ranges at the optimum
    ],
    ids=["halves", "thirds", "dominant-last", "one-animation", "empty-ranges", "six-in-four"],
)
def test_balanced_ranges(frames: list[int], parts: int, expected: list[tuple[int, int]]) -> None:
    ranges = balanced_ranges(frames, parts)
    assert ranges == expected
    assert [i for first, last in ranges for i in range(first, last + 1)] == list(range(len(frames)))


def test_plan_units_splits_long_scenes_and_orders_longest_first() -> None:
    counts: list[SceneCount | None] = [
        SceneCount("Long", (30, 30, 30, 30), True),
        SceneCount("Tiny", (10, 10), True),
        SceneCount("Until", (20, 20), False),  # a wait_until: length unknown, rendered whole
        None,  # not counted: rendered whole, first
    ]
    units = plan_units(["Long", "Tiny", "Until", "Lost"], counts, workers=2)
    assert [(u.scene, u.animations, u.expected) for u in units] == [
        ("Until", None, None),
        ("Lost", None, None),
        ("Long", (0, 1), 60),
        ("Long", (2, 3), 60),
        ("Tiny", None, 20),
    ]
