"""The render's shared Tex cache, with real LaTeX and real manim (-ql, tiny scenes).

Every ``latex`` run is counted by a stand-in on ``PATH`` that logs its arguments and runs the
real one, so "compiled once" is counted across all the processes of a render.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.decode import framemd5
from impls.errors import ScenesFailed
from impls.model.protocol import ManimSource, RenderJob, RenderResult
from impls.registry import get_renderer

REAL_LATEX = shutil.which("latex")
pytestmark = pytest.mark.skipif(
    REAL_LATEX is None or shutil.which("dvisvgm") is None, reason="needs latex and dvisvgm"
)

SHARED = r"e^{i\pi} + 1 = 0"

SCRIPT = f'''
from manim import *

class First(Scene):
    def construct(self):
        self.play(Write(MathTex(r"{SHARED}")), run_time=0.4)
        self.play(FadeIn(MathTex(r"a^2 + b^2 = c^2").shift(DOWN)), run_time=0.4)

class Second(Scene):
    def construct(self):
        self.play(Write(MathTex(r"{SHARED}")), run_time=0.4)
        self.play(FadeIn(Tex(r"Second").shift(DOWN)), run_time=0.4)

class Broken(Scene):
    def construct(self):
        self.play(Write(MathTex(r"\\notacommand{{x}}")))
'''

#: Distinct strings of First and Second, and the compiles of one process per scene, each alone.
DISTINCT, PER_SCENE = 3, 4


@dataclass(frozen=True)
class Workspace:
    script: Path
    log: Path  # one line per latex run

    def compiles(self) -> int:
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0

    def source(self, *scenes: str) -> ManimSource:
        return ManimSource(self.script, scenes, quality="l")


def latex_logger(folder: Path, log: Path, delay: float = 0.0) -> Path:
    """A ``latex`` in ``folder`` that logs each run to ``log`` (after ``delay`` seconds)."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "latex"
    shim.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nsleep {delay}\nexec "{REAL_LATEX}" "$@"\n')
    shim.chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("tex")
    script = root / "tex_scenes.py"
    script.write_text(SCRIPT)
    bin_dir = latex_logger(root / "bin", root / "latex.log")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
        yield Workspace(script, root / "latex.log")


def render(ws: Workspace, name: str, output: Path, **options: Any) -> tuple[RenderResult, int]:
    """Render First and Second with ``name``; also how many times latex ran."""
    before = ws.compiles()
    job = RenderJob(ws.source("First", "Second"), output, workers=2, options=options)
    result = get_renderer(name).render(job)
    return result, ws.compiles() - before


@pytest.fixture(scope="module")
def serial(ws: Workspace) -> RenderResult:
    """The reference, plain manim: every scene's process compiles its own strings."""
    result, compiles = render(ws, "manim-serial", ws.script.with_name("serial.mp4"))
    assert compiles == PER_SCENE
    return result


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the system temp dir a fresh folder, to prove a render leaves nothing in it."""
    folder = tmp_path / "systmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.parametrize(
    ("name", "options", "compiles"),
    [
        ("manim-scenes", {}, DISTINCT),
        # The counting pass compiles every string; the scenes' processes then find them all.
        ("manim-ranges", {}, DISTINCT),
        ("manim-inflight", {}, DISTINCT),
        ("manim-scenes", {"tex_cache": False}, PER_SCENE),
    ],
)
def test_shared_strings_compile_once_and_frames_match_plain_manim(
    ws: Workspace, serial: RenderResult, private_tmp: Path, name: str, options: dict[str, Any],
    compiles: int,
) -> None:  # fmt: skip
    output = ws.script.with_name(f"{name}-{len(options)}.mp4")
    result, compiled = render(ws, name, output, **options)
    assert compiled == compiles
    assert result.frames == serial.frames
    assert framemd5(output) == framemd5(serial.output)
    assert list(private_tmp.iterdir()) == []


PROBE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from impls.manim import tex_cache
    tex_cache.install(Path(sys.argv[1]))
    from manim import MathTex, config
    config.media_dir = sys.argv[2]  # each process its own, as in a render
    config.verbosity = "WARNING"
    print(len(MathTex(r"x^2 + \\sqrt{y}").submobjects[0]))
    """
)


def test_processes_asking_at_once_compile_one_complete_svg(tmp_path: Path) -> None:
    log = tmp_path / "latex.log"
    # latex waits a second before compiling: the other processes ask while it runs.
    bin_dir = latex_logger(tmp_path / "bin", log, delay=1.0)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    shared = tmp_path / "shared"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PROBE, str(shared), str(tmp_path / f"media-{n}")],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for n in range(4)
    ]
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, [err for _, err in results]
    # Each got the whole formula (x, 2, the root sign's parts, y), the same.
    shapes = {out.split()[-1] for out, _ in results}
    assert len(shapes) == 1 and int(shapes.pop()) >= 4
    assert len(log.read_text().splitlines()) == 1
    svgs = sorted(shared.glob("*.svg"))
    assert len(svgs) == 1
    ET.parse(svgs[0])  # complete XML
    # Only the SVG and its lock: no private compile folder, no partial file.
    assert sorted(p.name for p in shared.iterdir()) == sorted([svgs[0].name, f".{svgs[0].stem}.lock"])


def test_string_that_fails_gives_manims_error_and_leaves_nothing(
    ws: Workspace, private_tmp: Path
) -> None:
    job = RenderJob(ws.source("First", "Broken"), ws.script.with_name("broken.mp4"), workers=2)
    with pytest.raises(ScenesFailed) as caught:
        get_renderer("manim-scenes").render(job)
    assert list(caught.value.failures) == ["Broken"]
    error = caught.value.failures["Broken"]
    # manim's own words: LaTeX's message, then the exception naming the log file.
    assert "Undefined control sequence" in error.stdout + error.stderr
    assert "latex error converting to dvi" in str(error)
    assert list(private_tmp.iterdir()) == []
