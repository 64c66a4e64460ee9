"""``renderbench manim``: scenes rendered with manim's own flags into one video, and scenes
without animations (manim saves a PNG for them) shown as a held picture instead of failing, by
every Manim renderer (the one render skeleton holds them) and on Dask."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from impls import ManimSource, RenderJob, get_renderer
from impls.errors import ScenesFailed
from impls.ffmpeg.probe import audio_duration, count_packets
from impls.ffmpeg.tools import ffmpeg_binary
from impls.manim.discover import scene_names
from tests.dropin_clips import make_wav

pytest.importorskip("manim")

#: Defined out of alphabetical order: -a must keep the file's order. Title and Card play
#: nothing (manim saves a PNG for them); Card is narrated.
SCRIPT = """
from manim import *

class Title(Scene):
    def construct(self):
        self.add(Square(side_length=4, color=RED, fill_opacity=1))

class Grow(Scene):
    def construct(self):
        self.play(Create(Circle()), run_time=0.6)

class Card(Scene):
    def construct(self):
        self.add(Square(color=BLUE, fill_opacity=1))

def helper():
    return 1
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("manim-cli")
    (folder / "scenes.py").write_text(SCRIPT)
    make_wav(folder / "card.wav", 2.3)
    return folder


@pytest.fixture
def tmp_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="rbm-", dir="/tmp"))
    yield root
    assert list(root.iterdir()) == []  # nothing left behind
    root.rmdir()


def _renderbench(cwd: Path, tmp_root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "TMPDIR": str(tmp_root), "PYTHONPATH": repo}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "manim", *args], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def _frame(path: Path, index: int, size: tuple[int, int]) -> np.ndarray:
    raw = subprocess.run(
        [ffmpeg_binary(), "-v", "error", "-i", str(path), "-vf", f"select=eq(n\\,{index})",
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(size[1], size[0], 3)


def test_every_scene_in_file_order_with_stills_and_narration(
    workspace: Path, tmp_root: Path
) -> None:
    done = _renderbench(
        workspace, tmp_root, "-ql", "scenes.py", "-a", "--audio", "Card=card.wav", "-o", "all.mp4",
        "--workers", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Title: 1 s still at 15 fps; Grow: 0.6 s; Card: held for its 2.3 s narration (35 frames).
    assert done.stdout.strip().startswith("all.mp4: 59 frames, 3.93 s of video, rendered in")
    output = workspace / "all.mp4"
    assert count_packets(output) == 59
    assert audio_duration(output) >= Fraction(39, 10)


@pytest.mark.parametrize(
    ("renderer", "executor"),
    [
        ("manim-scenes", "local"),
        ("manim-inflight", "local"),
        ("manim-ranges", "local"),
        pytest.param("manim-scenes", "dask", marks=pytest.mark.slow),
    ],
    ids=["scenes", "inflight", "ranges", "scenes-dask"],
)
def test_a_still_scene_is_its_last_frame(tmp_path: Path, renderer: str, executor: str) -> None:
    (tmp_path / "scenes.py").write_text(SCRIPT)
    source = ManimSource(tmp_path / "scenes.py", ("Title", "Grow"), quality="l", still_duration=2.0)
    if not get_renderer(renderer).supports(source):
        pytest.skip(f"{renderer} cannot run here")
    if executor == "dask":
        pytest.importorskip("distributed")
    job = RenderJob(source, tmp_path / "two.mp4", workers=2, executor=executor)
    result = get_renderer(renderer).render(job)
    assert [s["frames"] for s in result.info["scenes"]] == [30, 9]
    assert result.info["reencoded_concat"] is False  # the still joins manim's video as is
    first, last = _frame(job.output, 0, (854, 480)), _frame(job.output, 29, (854, 480))
    assert np.array_equal(first, last)
    centre = first[240, 427].astype(int)  # the square's centre: manim's RED, #FC6255
    assert np.abs(centre - np.array([0xFC, 0x62, 0x55])).max() <= 12


def test_a_still_scene_fails_when_asked_to(tmp_path: Path) -> None:
    (tmp_path / "scenes.py").write_text(SCRIPT)
    source = ManimSource(tmp_path / "scenes.py", ("Title",), quality="l", still_duration=None)
    with pytest.raises(ScenesFailed, match="only an image"):
        get_renderer("manim-serial").render(RenderJob(source, tmp_path / "out.mp4"))
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["empty.py", "-a"], "empty.py defines no scene"),
        (["scenes.py"], r"defines 3 scenes \(Title, Grow, Card\): name the ones to render, or give -a"),
        (["scenes.py", "Grow", "-a"], "not both"),
        (["scenes.py", "Nope", "-ql"], r"scene\(s\) Nope not defined"),
        (["missing.py", "-a"], "missing.py does not exist"),
        (["scenes.py", "-a", "-o", "out.gif"], "writes mp4, mov, webm files"),
        (["scenes.py", "-a", "--still-duration", "0"], "must be > 0 seconds"),
    ],
    ids=["no-scenes", "which-scenes", "names-and-all", "unknown-scene", "no-file", "gif", "zero-still"],
)
def test_bad_requests_fail_in_one_line(
    tmp_path: Path, tmp_root: Path, args: list[str], message: str
) -> None:
    import re

    (tmp_path / "scenes.py").write_text(SCRIPT)
    (tmp_path / "empty.py").write_text("from manim import *\n\nclass Helper:\n    pass\n")
    done = _renderbench(tmp_path, tmp_root, *args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("renderbench manim: error: ")
    assert re.search(message, lines[0]), lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.py", "scenes.py"]


def test_scene_names_in_definition_order(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text(
        "import manim\nfrom manim import *\n"
        "class Zeta(Scene): pass\n"
        "class Base(MovingCameraScene): pass\n"
        "class Alpha(Base): pass\n"
        "class Mixin: pass\n"
        "class Beta(Mixin, manim.ThreeDScene): pass\n"
        "if True:\n    class Late(Scene): pass\n"
    )
    assert scene_names(script) == ["Zeta", "Base", "Alpha", "Beta", "Late"]
