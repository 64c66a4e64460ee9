"""`renderbench render` end to end in a subprocess: success, progress, and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from harness.decode import probe
from harness.render_cli import one_line, summary
from impls import FFmpegError, InvalidJob, RenderResult
from impls.ffmpeg.probe import count_packets
from impls.ffmpeg.process import run
from impls.registry import get_renderer
from impls.runtime.progress import PROGRESS_ENV

FACTORY = "harness.workloads.frame_index:make"
TINY = json.dumps({"width": 160, "height": 90, "fps": 30, "duration": 1.0})
FRAMES = 30
AUDIBLE = json.dumps({"width": 160, "height": 90, "fps": 30, "duration": 1.0, "audio": True})
ERROR_PREFIX = "renderbench render: error: "

SCENES_SCRIPT = '''
from manim import Circle, Create, Scene, Square

class One(Scene):
    def construct(self):
        self.play(Create(Square()), run_time=0.5)

class Two(Scene):
    def construct(self):
        self.play(Create(Circle()), run_time=0.5)
'''


def cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m harness.render_cli`` with no saved results in sight."""
    empty = cwd / "no-results"
    empty.mkdir(exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if k != PROGRESS_ENV}
    full_env["RENDERBENCH_RESULTS"] = str(empty)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "harness.render_cli", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(ERROR_PREFIX), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_renders_a_factory(tmp_path: Path) -> None:
    proc = cli(tmp_path, FACTORY, "out.mp4", "--method", "baseline", "--kwargs", TINY)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # stderr is a pipe here: no bar
    [line] = proc.stdout.splitlines()
    assert line.startswith(f"out.mp4: {FRAMES} frames, 1.00 s of video, rendered in ")
    assert line.endswith(" fps) by baseline")
    assert count_packets(tmp_path / "out.mp4") == FRAMES


def test_auto_and_encoder_options(tmp_path: Path) -> None:
    proc = cli(
        tmp_path, FACTORY, "out.mp4", "--kwargs", TINY, "--codec", "libx264", "--preset", "ultrafast",
        "--crf", "30", "--workers", "2", "--verbose",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "no valid saved benchmark results" in proc.stderr and "documented default" in proc.stderr
    assert count_packets(tmp_path / "out.mp4") == FRAMES
    stream = probe(tmp_path / "out.mp4")["streams"][0]
    assert stream["codec_name"] == "h264" and (stream["width"], stream["height"]) == (160, 90)


def test_audio_codec_option(tmp_path: Path) -> None:
    proc = cli(tmp_path, FACTORY, "out.webm", "--method", "chunk", "--workers", "2", "--kwargs", AUDIBLE,
               "--codec", "libvpx-vp9", "--preset", "none", "--audio-codec", "libvorbis")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    streams = probe(tmp_path / "out.webm")["streams"]
    assert [s["codec_name"] for s in streams] == ["vp9", "vorbis"]


@pytest.mark.parametrize(
    "switch", [pytest.param(["--progress"], id="flag"), pytest.param([], id="env")]
)
def test_progress_bar_reaches_100_percent(tmp_path: Path, switch: list[str]) -> None:
    env = {} if switch else {PROGRESS_ENV: "1"}
    proc = cli(tmp_path, FACTORY, "out.mp4", "--method", "baseline", "--kwargs", TINY, *switch, env=env)
    assert proc.returncode == 0, proc.stderr
    final = proc.stderr.replace("\r", "\n").strip().splitlines()[-1]
    assert "100%" in final and f"{FRAMES}/{FRAMES}" in final and "frame/s" in final
    assert proc.stdout.startswith("out.mp4: ")


def test_quiet_has_no_bar_and_no_summary(tmp_path: Path) -> None:
    proc = cli(tmp_path, FACTORY, "out.mp4", "--method", "baseline", "--kwargs", TINY, "--quiet",
               env={PROGRESS_ENV: "1"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and proc.stdout == ""
    assert (tmp_path / "out.mp4").is_file()


def test_a_factory_next_to_the_user_is_importable(tmp_path: Path) -> None:
    (tmp_path / "myvideo.py").write_text(
        "from harness.workloads.frame_index import make as _make\n"
        "def clip():\n    return _make(width=96, height=64, fps=10, duration=1.0)\n"
    )
    proc = cli(tmp_path, "myvideo:clip", "out.mp4", "--method", "baseline")
    assert proc.returncode == 0, proc.stderr
    assert count_packets(tmp_path / "out.mp4") == 10


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        pytest.param([FACTORY, "out.mp4", "--method", "fastest"], ["unknown method 'fastest'", "chunk"], id="method"),
        pytest.param(["nosuch.module:make", "out.mp4"], ["cannot import factory module 'nosuch.module'"], id="no-module"),
        pytest.param(["harness.workloads.frame_index:nope", "out.mp4"], ["has no attribute 'nope'"], id="no-factory"),
        pytest.param(["harness.workloads.frame_index", "out.mp4"], ["must look like 'pkg.module:function'"], id="not-a-factory"),
        pytest.param([FACTORY, "out.mp4", "--method", "baseline", "--kwargs", '{"width": 161, "height": 90}'],
                     ["161x90 is odd"], id="odd-size"),
        pytest.param([FACTORY, "missing/out.mp4"], ["output directory missing does not exist"], id="no-dir"),
        pytest.param([FACTORY, "out.mp4", "--kwargs", "[1, 2]"], ["--kwargs must be a JSON object"], id="kwargs-list"),
        pytest.param([FACTORY, "out.mp4", "--kwargs", "{width: 1}"], ["--kwargs is not valid JSON"], id="kwargs-json"),
        pytest.param([FACTORY, "out.mp4", "--codec", "nosuchcodec"], ["encoder 'nosuchcodec' is not available"], id="codec"),
        pytest.param([FACTORY, "out.webm", "--codec", "libvpx-vp9", "--preset", "none", "--kwargs", AUDIBLE],
                     ["cannot write libvpx-vp9 video with aac audio at 44100 Hz into a .webm file", "Opus"], id="webm-aac"),
        pytest.param([FACTORY], ["expected 'pkg.module:factory OUTPUT', got 1"], id="no-output"),
        pytest.param(["scenes.py", "One", "out.mp4"], ["Manim script scenes.py does not exist"], id="no-script"),
        pytest.param([FACTORY, "out.mp4", "--audio", "One=a.wav"], ["--audio applies to Manim scenes"], id="audio"),
        pytest.param([FACTORY, "out.mp4", "--workers", "0"], ["argument --workers: must be >= 1, got 0"], id="workers"),
        pytest.param([FACTORY, "out.mp4", "--executor", "cloud"], ["argument --executor: invalid choice"], id="executor"),
        pytest.param(["--method", "chunk"], ["the following arguments are required"], id="nothing"),
        pytest.param([FACTORY, "out.mp4", "--quiet", "--progress"], ["not allowed with argument"], id="quiet-progress"),
        pytest.param([FACTORY, "out.mp4", "--colour", "red"], ["unrecognized arguments: --colour"], id="unknown-option"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    assert_one_line_error(cli(tmp_path, *args), *fragments)
    assert list(tmp_path.rglob("*.mp4")) == []


def test_verbose_errors_keep_the_traceback(tmp_path: Path) -> None:
    proc = cli(tmp_path, FACTORY, "out.mp4", "--method", "fastest", "--verbose")
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith(ERROR_PREFIX + "unknown method 'fastest'")


def test_a_failing_render_exits_1(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(
        "from moviepy import VideoClip\n"
        "def frame(t):\n    raise RuntimeError('the clip broke at t=%s' % t)\n"
        "def clip():\n    return VideoClip(frame, duration=1).with_fps(10)\n"
    )
    proc = cli(tmp_path, "broken:clip", "out.mp4", "--method", "baseline")
    assert proc.returncode == 1
    [line] = proc.stderr.splitlines()
    assert line.startswith(ERROR_PREFIX) and "the clip broke at t=0" in line
    assert list(tmp_path.glob("*.mp4")) == [] and list(tmp_path.glob(".out*")) == []


def _manim_renderer_present() -> bool:
    try:
        get_renderer("manim-scenes")
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.startswith("impls"):
            return False
        raise
    return True


def test_renders_manim_scenes_with_audio(tmp_path: Path) -> None:
    if not _manim_renderer_present():
        pytest.skip("the manim-scenes renderer is not part of this tree")
    (tmp_path / "scenes.py").write_text(SCENES_SCRIPT)
    run(["-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                str(tmp_path / "one.wav")], "making a test tone")  # fmt: skip
    proc = cli(tmp_path, "scenes.py", "One", "Two", "out.mp4", "--audio", "One=one.wav",
               "--quality", "l", "--workers", "2", "--progress")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    frames = count_packets(tmp_path / "out.mp4")
    final = proc.stderr.replace("\r", "\n").strip().splitlines()[-1]
    assert "100%" in final and f"{frames}/{frames}" in final
    assert f"out.mp4: {frames} frames" in proc.stdout and "by manim-scenes" in proc.stdout
    streams = {s["codec_type"] for s in probe(tmp_path / "out.mp4")["streams"]}
    assert streams == {"video", "audio"}
    # One's 1 s of audio is longer than its 0.5 s of animation: its video is held to 1 s.
    duration = float(probe(tmp_path / "out.mp4")["format"]["duration"])
    assert duration == pytest.approx(1.5, abs=0.15)


def test_the_renderbench_command_has_render(tmp_path: Path) -> None:
    """Once harness.cli registers the subcommand, `renderbench render` is this command."""
    exe = shutil.which("renderbench", path=str(Path(sys.executable).parent))
    assert exe is not None, "the renderbench console script is not installed"
    try:
        import harness.cli  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name == "harness.cli":
            pytest.skip("harness.cli (the renderbench command) is not part of this tree")
        raise
    proc = subprocess.run([exe, "render", FACTORY, "out.mp4", "--method", "baseline", "--kwargs", TINY],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("out.mp4: 30 frames")
    bad = subprocess.run([exe, "render", FACTORY, "out.mp4", "--workers", "zero"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1, bad.stderr
    unknown = subprocess.run([exe, "render", FACTORY, "out.mp4", "--colour", "red"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert unknown.returncode == 2, unknown.stderr
    assert unknown.stderr.splitlines() == [
        "renderbench render: error: unrecognized arguments: --colour red (see --help)"
    ]
    assert list(tmp_path.glob("*.mp4")) == [tmp_path / "out.mp4"]


# Pure formatting


def _result(**overrides: Any) -> RenderResult:
    fields: dict[str, Any] = {
        "output": Path("out/video.mp4"), "renderer": "chunk", "frames": 300, "duration": 10.0,
        "fps": Fraction(30), "info": {"method": "chunk"},
    }  # fmt: skip
    fields.update(overrides)
    return RenderResult(**fields)


def test_summary_line() -> None:
    assert summary(_result(), 4.0) == (
        "out/video.mp4: 300 frames, 10.00 s of video, rendered in 4.00 s (75.0 fps) by chunk"
    )
    fell_back = summary(_result(renderer="baseline", fallback_used=True), 10.0)
    assert fell_back.endswith("(30.0 fps) by chunk -> baseline after a fallback to the baseline")


def test_one_line_joins_multi_line_errors() -> None:
    err = FFmpegError("ffmpeg encoding x.mp4", 1, "line one\n\n  [libx264] broken preset\n")
    assert one_line(err) == "ffmpeg encoding x.mp4 failed (exit status 1): line one [libx264] broken preset"
    assert one_line(InvalidJob("bad")) == "bad"
    assert one_line(ValueError("foreign")) == "ValueError: foreign"
    assert one_line(KeyError()) == "KeyError"
    assert len(one_line(RuntimeError("x" * 5000))) == 1000
