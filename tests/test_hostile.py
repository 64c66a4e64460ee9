"""Hostile media and arguments: odd factory strings, JSON that is not an object, output paths
with spaces, unicode or a leading dash, scene names that are not names, files that are not
what they claim, frames too large for ffmpeg or for memory.

Each ends in a one-line error (``renderbench render``: exit status 2) before anything starts,
or in a correct render. No shell is ever involved: a source scan finds none.
"""

from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.validate import decode_indices
from harness.workloads import FRAME_INDEX
from impls import ClipSource, EncoderSpec, InvalidJob, InvalidSource, ManimSource, RenderJob, get_renderer
from impls.model.protocol import FFMPEG_MAX_PICTURE
from tests.media import make_video
from tests.test_reliability import (  # noqa: F401
    ROOT,
    Scenes,
    descendants,
    nothing_starts,
    out_dir,
    scenes,
)

SMALL: dict[str, Any] = {"width": 160, "height": 90, "fps": 30, "duration": 1}
FROM_FILE = "tests.faulty_clips:from_file"
CLIP_RENDERERS = ("baseline", "disk", "pipe", "chunk")


def _cli(args: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "harness.render_cli", "--quiet", *args], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _one_line_usage_error(proc: subprocess.CompletedProcess[str], pattern: str) -> None:
    import re

    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert re.search(pattern, lines[0]), lines[0]


# ---------------------------------------------------------------------------------------------
# No shell


def _shell_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        for keyword in node.keywords:
            # shell=<anything but a literal False> could hand a string to /bin/sh.
            if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} shell=")
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            name = f"{func.value.id}.{func.attr}"
            if name in {"os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"}:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    return found


def test_no_shell_is_ever_involved() -> None:
    """Every process (ffmpeg, ffprobe, manim, Dask workers) starts from an argument list:
    names from the user (files, scenes, factories) can never be read by a shell."""
    sources = [p for folder in ("impls", "harness", "results") for p in sorted((ROOT / folder).rglob("*.py"))]
    assert len(sources) > 50
    assert [call for path in sources for call in _shell_calls(path)] == []


# ---------------------------------------------------------------------------------------------
# Factories and their arguments


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("os:system", r"factory 'os:system' does not take these arguments: missing a required argument: 'command'"),
        ("os:getcwd", r"factory 'os:getcwd' returned str, not a MoviePy VideoClip"),
        ("../etc:passwd", r"must look like 'pkg.module:function'"),
        (".relative:make", r"must look like 'pkg.module:function'"),
        ("harness.workloads.frame_index:make; rm -rf /", r"must look like 'pkg.module:function'"),
        ("harness.workloads.frame_index:make()", r"must look like 'pkg.module:function'"),
        ("harness workloads:make", r"must look like 'pkg.module:function'"),
        ("a:b:c", r"must look like 'pkg.module:function'"),
        ("nul\x00:make", r"must look like 'pkg.module:function'"),
        ("$(touch pwned):make", r"must look like 'pkg.module:function'"),
        ("vidéo_🎬:make", r"must look like 'pkg.module:function'"),
        ("no_such_module_ü:make", r"cannot import factory module 'no_such_module_ü'"),
    ],
    ids=["callable-not-a-factory", "returns-a-string", "path", "relative", "shell", "call",
         "space", "two-colons", "nul", "substitution", "emoji", "unicode-missing"],
)  # fmt: skip
def test_odd_factory_strings_are_one_line_errors(
    factory: str, message: str, tmp_path: Path, nothing_starts: list[list[str]]
) -> None:
    with pytest.raises(InvalidSource, match=message) as caught:
        get_renderer("pipe").render(RenderJob(ClipSource(factory, {}), tmp_path / "out.mp4"))
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "pwned").exists() and not (ROOT / "pwned").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ("[160, 90]", r"--kwargs must be a JSON object"),
        ("null", r"--kwargs must be a JSON object"),
        ('"width=160"', r"--kwargs must be a JSON object"),
        ("{width: 160}", r"--kwargs is not valid JSON"),
        ("[" * 100_000, r"--kwargs is (not valid JSON|nested too deeply)"),
        ('{"colour": "red"}', r"factory 'harness.workloads.frame_index:make' does not take these arguments: .*'colour'"),
    ],
    ids=["array", "null", "string", "not-json", "nested", "unknown-keyword"],
)  # fmt: skip
def test_kwargs_that_are_not_the_factorys_are_one_line_usage_errors(kwargs: str, message: str, tmp_path: Path) -> None:
    proc = _cli([FRAME_INDEX, str(tmp_path / "out.mp4"), "--method", "pipe", "--kwargs", kwargs])
    _one_line_usage_error(proc, message)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Output paths


@pytest.mark.parametrize("name", CLIP_RENDERERS)
@pytest.mark.parametrize(
    "output", ["-leading dash.mp4", "sp ace/vi déo 🎬.mp4", "pipe:1.mp4", "'quote\" $HOME;.mp4"],
    ids=["leading-dash", "spaces-unicode", "protocol-like", "quotes-dollar"],
)  # fmt: skip
def test_odd_output_paths_render_correctly(
    name: str, output: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # relative, as typed in a terminal
    Path(output).parent.mkdir(exist_ok=True)
    job = RenderJob(
        ClipSource(FRAME_INDEX, SMALL), Path(output), workers=2, encoder=EncoderSpec(preset="ultrafast"), audio=False
    )
    result = get_renderer(name).render(job)
    assert result.frames == 30 and decode_indices(tmp_path / output) == list(range(30))
    assert sorted(p.name for p in (tmp_path / output).parent.iterdir() if p.is_file()) == [Path(output).name]


def test_cli_renders_to_an_output_named_with_a_leading_dash(tmp_path: Path) -> None:
    args = ["--method", "pipe", "--no-audio", "--preset", "ultrafast", "--kwargs", json.dumps(SMALL)]
    proc = _cli([*args, FRAME_INDEX, "--", "-out put.mp4"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert decode_indices(tmp_path / "-out put.mp4") == list(range(30))


# ---------------------------------------------------------------------------------------------
# Manim scene names, and files that are not what they claim


@pytest.mark.parametrize(
    "scene", ["Bad Name", "-h", "Short;touch pwned", "class", "Short\n", "../Short", ""],
    ids=["space", "option", "shell", "keyword", "newline", "path", "empty"],
)
def test_scene_names_that_are_not_class_names_are_refused(
    scene: str, scenes: Scenes, tmp_path: Path, nothing_starts: list[list[str]]
) -> None:
    job = RenderJob(ManimSource(scenes.script, ("Short", scene)), tmp_path / "out.mp4")
    with pytest.raises(InvalidSource, match=r"scene name .* is not a Python class name") as caught:
        get_renderer("manim-scenes").render(job)
    assert "\n" not in str(caught.value).replace(repr(scene), "")


def test_cli_refuses_a_scene_name_that_is_not_a_class_name(scenes: Scenes, tmp_path: Path) -> None:
    proc = _cli([str(scenes.script), "Short", "Bad Name", str(tmp_path / "out.mp4")])
    _one_line_usage_error(proc, r"scene name 'Bad Name' is not a Python class name")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile-media")
    notes = folder / "notes.wav"
    notes.write_text("not audio at all, whatever the name says\n")
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    whole = make_video(folder / "whole.mp4", "160x90", 2)
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return {"notes": notes, "empty": empty, "truncated": truncated}


@pytest.mark.parametrize("name", CLIP_RENDERERS)
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"audio": "notes"}, r"factory '.*' failed reading a file: .*notes.wav: Invalid data"),
        ({"video": "empty"}, r"factory '.*' failed reading a file: .*empty.mp4"),
        ({"video": "truncated"}, r"factory '.*' failed reading a file: .*moov atom not found"),
    ],
    ids=["audio-not-audio", "video-0-bytes", "video-truncated"],
)
def test_media_files_that_are_not_media_are_one_line_errors(
    name: str, kwargs: dict[str, str], message: str, files: dict[str, Path], out_dir: Path, scratch_root: Path
) -> None:
    """MoviePy's own probe of the file (in the factory) fails: no worker nor encoder starts."""
    before = set(descendants())
    source = ClipSource(FROM_FILE, {**SMALL, **{key: str(files[value]) for key, value in kwargs.items()}})
    with pytest.raises(InvalidSource, match=message) as caught:
        get_renderer(name).render(RenderJob(source, out_dir / "out.mp4"))
    assert "\n" not in str(caught.value)
    assert list(out_dir.iterdir()) == [] and list(scratch_root.iterdir()) == []
    assert set(descendants()) <= before


def test_manim_narration_that_is_not_audio_is_a_one_line_error(
    scenes: Scenes, files: dict[str, Path], tmp_path: Path
) -> None:
    proc = _cli([str(scenes.script), "Short", str(tmp_path / "out.mp4"), "--audio", f"Short={files['notes']}"])
    _one_line_usage_error(proc, r"audio file .*notes.wav for scene Short is unreadable")


# ---------------------------------------------------------------------------------------------
# Frames too large


@pytest.mark.parametrize("name", CLIP_RENDERERS)
def test_a_16k_frame_is_refused_before_anything_starts(
    name: str, tmp_path: Path, nothing_starts: list[list[str]]
) -> None:
    job = RenderJob(ClipSource(FRAME_INDEX, {**SMALL, "width": 16384, "height": 16384}), tmp_path / "out.mp4")
    with pytest.raises(InvalidJob, match=r"frame size 16384x16384 is larger than ffmpeg can handle") as caught:
        get_renderer(name).render(job)
    assert "\n" not in str(caught.value)
    assert (16254 + 128) ** 2 < FFMPEG_MAX_PICTURE <= (16256 + 128) ** 2  # ffmpeg took 16000, refused 16256


def test_pipe_refuses_frames_in_flight_that_cannot_fit_in_memory(
    tmp_path: Path, nothing_starts: list[list[str]]
) -> None:
    """A frame size and max_inflight whose frames exceed this machine's available memory."""
    available = psutil.virtual_memory().available
    side = math.ceil(math.sqrt(available / 99 / 3) / 2) * 2  # 100 slots of it exceed available
    if (side + 128) ** 2 >= FFMPEG_MAX_PICTURE:
        pytest.skip(f"{available / 2**30:.0f} GiB available: frames ffmpeg takes all fit")
    job = RenderJob(
        ClipSource(FRAME_INDEX, {**SMALL, "width": side, "height": side}), tmp_path / "out.mp4",
        options={"max_inflight": 100},
    )  # fmt: skip
    pattern = (
        rf"pipe keeps 100 frames in flight \(max_inflight\), [\d.]+ GiB for {side}x{side} frames "
        r"of [\d.]+ MiB each, but only [\d.]+ GiB is (memory available|free in /dev/shm): lower "
        r"max_inflight to \d+ or less"
    )
    with pytest.raises(InvalidJob, match=pattern) as caught:
        get_renderer("pipe").render(job)
    assert "\n" not in str(caught.value)
