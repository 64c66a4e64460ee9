"""``renderbench exec script.py`` and ``python -m impls script.py``: an unchanged MoviePy script.

Each script runs in a subprocess, as a user runs it, once with plain ``python`` (MoviePy's own
``write_videofile``, pointed at renderbench's ffmpeg) and once through renderbench: the decoded
frames and audio are equal, the script runs exactly once (workers never import it, guarded or
not), its other ``write_*`` calls are MoviePy's. Bad scripts give Python's traceback or one
line, a non-zero status, and leave no process, temp file or output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.decode import framemd5
from impls.ffmpeg.tools import ffmpeg_binary
from tests.dropin_clips import assert_same, make_wav
from tests.media import make_video

#: A script as a MoviePy user writes it: guarded, a helper function, an edit of a video file
#: (cut, resize, picture-in-picture), audio from another file, a GIF beside the video.
EDIT_SCRIPT = '''
"""Make the teaser."""
import sys
from moviepy import AudioFileClip, CompositeVideoClip, VideoFileClip, concatenate_videoclips

def shrink(clip, width):
    return clip.resized(width=width)

def main(video, narration, out):
    source = VideoFileClip(video)
    cuts = [source.subclipped(0.2, 1.0), source.subclipped(1.5, 2.2)]
    joined = concatenate_videoclips([c.resized((160, 90)) for c in cuts])
    inset = shrink(source.subclipped(0, joined.duration), 40).with_position((8, 6))
    teaser = CompositeVideoClip([joined, inset], size=(160, 90)).with_fps(30)
    teaser = teaser.with_audio(AudioFileClip(narration).subclipped(0, teaser.duration))
    teaser.write_videofile(out, codec="libx264", ffmpeg_params=["-crf", "0"], logger=None)
    teaser.with_duration(0.3).write_gif(out + ".gif", fps=5, logger=None)
    with open("runs.txt", "a") as runs:
        runs.write(f"{__name__} {__file__} {sys.argv[1:]}\\n")

if __name__ == "__main__":
    main(*sys.argv[1:])
'''

#: Unguarded, with a frame function of its own: workers that re-ran it would write more lines.
UNGUARDED_SCRIPT = '''
import sys
import numpy as np
from moviepy import ColorClip, CompositeVideoClip, VideoClip

with open("runs.txt", "a") as runs:
    runs.write(__name__ + "\\n")

def sweep(t):
    frame = np.zeros((90, 160, 3), np.uint8)
    frame[:, : int(80 * t) + 1] = (255, 128, 0)
    return frame

moving = VideoClip(sweep, duration=1.5).with_position((0, 30))
clip = CompositeVideoClip([ColorClip((160, 90), (0, 0, 90), duration=1.5), moving]).with_fps(24)
clip.write_videofile(sys.argv[1], codec="libx264", ffmpeg_params=["-crf", "0"], logger=None)
'''

RAISES_SCRIPT = '''
from moviepy import ColorClip

def build():
    raise ValueError("the title card is missing")

clip = ColorClip((160, 90), (0, 0, 0), duration=1).with_fps(10)
build()
clip.write_videofile("out.mp4")
'''

NO_WRITE_SCRIPT = '''
from moviepy import ColorClip
clip = ColorClip((160, 90), (0, 0, 0), duration=1).with_fps(10)
clip.with_duration(0.2).write_gif("card.gif", fps=5, logger=None)
'''

SOCKET_SCRIPT = '''
import socket
import numpy as np
from moviepy import VideoClip

sock = socket.socket()
def frame(t):
    sock.fileno()
    return np.zeros((90, 160, 3), np.uint8)

VideoClip(frame, duration=1).with_fps(10).write_videofile("out.mp4", logger=None)
'''

UNKNOWN_KWARG_SCRIPT = '''
from moviepy import ColorClip
ColorClip((160, 90), (0, 0, 0), duration=1).with_fps(10).write_videofile("out.mp4", verbose=False)
'''


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("media")
    return make_video(folder / "source.mp4", "320x180", 3), make_wav(folder / "narration.wav", 3)


@pytest.fixture
def tmp_root() -> Iterator[Path]:
    """The scripts' private temp root (TMPDIR). Short: multiprocessing's forkserver puts a
    Unix socket in it, whose path may not exceed 107 bytes."""
    root = Path(tempfile.mkdtemp(prefix="rbx-", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _env(tmp_root: Path) -> dict[str, str]:
    """MoviePy on renderbench's ffmpeg (as the renderers are), a private temp root."""
    repo = str(Path(__file__).resolve().parents[1])
    return {
        **os.environ,
        "FFMPEG_BINARY": ffmpeg_binary(),
        "TMPDIR": str(tmp_root),
        "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])),
    }


def _run(command: list[str], cwd: Path, tmp_root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=_env(tmp_root), capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


def _renderbench(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", "exec", *args]


def _nothing_left(folder: Path, tmp_root: Path, *expected: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _mentioning(folder):
        time.sleep(0.1)
    assert _mentioning(folder) == []
    assert list(tmp_root.iterdir()) == []
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected)


def _mentioning(folder: Path) -> list[int]:
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        try:
            text = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or "")
        except psutil.Error:
            continue
        if str(folder) in text and proc.pid != os.getpid():
            found.append(proc.pid)
    return found


def _script(folder: Path, text: str, name: str = "script.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_an_unchanged_script_gives_moviepys_video(
    media: tuple[Path, Path], tmp_path: Path, tmp_root: Path
) -> None:
    video, narration = media
    moviepy = tmp_path / "python"
    _script(moviepy, EDIT_SCRIPT)
    command = [sys.executable, "script.py", str(video), str(narration), "teaser.mp4"]
    plain = _run(command, moviepy, tmp_root)
    assert plain.returncode == 0, plain.stderr
    ours = tmp_path / "renderbench"
    _script(ours, EDIT_SCRIPT)
    done = _run(_renderbench("--workers", "2", *command[1:]), ours, tmp_root)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("teaser.mp4: 45 frames, 1.50 s of video, rendered")
    assert_same(ours / "teaser.mp4", moviepy / "teaser.mp4")
    # The GIF is MoviePy's own; the script ran once, as __main__, with its own argv and __file__.
    assert (ours / "teaser.mp4.gif").read_bytes() == (moviepy / "teaser.mp4.gif").read_bytes()
    runs = (ours / "runs.txt").read_text().splitlines()
    assert runs == [f"__main__ {ours / 'script.py'} {[str(video), str(narration), 'teaser.mp4']}"]
    _nothing_left(ours, tmp_root, "script.py", "teaser.mp4", "teaser.mp4.gif", "runs.txt")


@pytest.mark.parametrize("runner", ["renderbench-exec", "python-m-impls"])
def test_workers_never_run_the_script(tmp_path: Path, tmp_root: Path, runner: str) -> None:
    _script(tmp_path, UNGUARDED_SCRIPT)
    prefix = (
        _renderbench("--method", "pipe", "--workers", "2")
        if runner == "renderbench-exec"
        else [sys.executable, "-m", "impls", "--method", "pipe", "--workers", "2"]
    )
    done = _run([*prefix, "script.py", "sweep.mp4"], tmp_path, tmp_root)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "runs.txt").read_text() == "__main__\n"  # once, in this process only
    assert "rendered in" in done.stdout and "by pipe" in done.stdout
    plain = _run([sys.executable, "script.py", "moviepy.mp4"], tmp_path, tmp_root)
    assert plain.returncode == 0, plain.stderr
    assert framemd5(tmp_path / "sweep.mp4") == framemd5(tmp_path / "moviepy.mp4")
    _nothing_left(tmp_path, tmp_root, "script.py", "sweep.mp4", "moviepy.mp4", "runs.txt")


@pytest.mark.slow
def test_an_unchanged_script_on_a_private_dask_cluster(
    media: tuple[Path, Path], tmp_path: Path, tmp_root: Path
) -> None:
    pytest.importorskip("distributed")
    video, narration = media
    _script(tmp_path, EDIT_SCRIPT)
    done = _run(
        _renderbench(
            "--executor", "dask", "--method", "chunk", "--workers", "2", "script.py", str(video),
            str(narration), "teaser.mp4",
        ),
        tmp_path,
        tmp_root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    command = [sys.executable, "script.py", str(video), str(narration), "moviepy.mp4"]
    plain = _run(command, tmp_path, tmp_root)
    assert plain.returncode == 0, plain.stderr
    assert_same(tmp_path / "teaser.mp4", tmp_path / "moviepy.mp4")


# ---------------------------------------------------------------------------------------------
# Bad scripts


def test_a_script_that_raises_gives_its_traceback(tmp_path: Path, tmp_root: Path) -> None:
    _script(tmp_path, RAISES_SCRIPT)
    done = _run(_renderbench("script.py"), tmp_path, tmp_root)
    assert done.returncode == 1
    err = done.stderr.splitlines()
    assert err[0] == "Traceback (most recent call last):"
    assert f'File "{tmp_path / "script.py"}", line 8, in <module>' in err[1]
    assert err[-1] == "ValueError: the title card is missing"
    assert "impls" not in done.stderr  # the runner's own frames are not shown
    _nothing_left(tmp_path, tmp_root, "script.py")


@pytest.mark.parametrize(
    ("text", "message", "leaves"),
    [
        (NO_WRITE_SCRIPT, "finished without calling write_videofile", ["card.gif"]),
        (SOCKET_SCRIPT, r"clip\.frame_function\.<globals>\.sock is a socket\.socket .*factory", []),
        (UNKNOWN_KWARG_SCRIPT, "unknown argument.*verbose", []),
    ],
    ids=["no-write", "unpicklable-clip", "unknown-kwarg"],
)
def test_bad_scripts_fail_in_one_line(
    tmp_path: Path, tmp_root: Path, text: str, message: str, leaves: list[str]
) -> None:
    import re

    _script(tmp_path, text)
    done = _run(_renderbench("script.py"), tmp_path, tmp_root)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("renderbench exec: error: ")
    assert re.search(message, lines[0]), lines[0]
    _nothing_left(tmp_path, tmp_root, "script.py", *leaves)


def test_a_missing_script(tmp_path: Path, tmp_root: Path) -> None:
    done = _run(_renderbench("nowhere.py"), tmp_path, tmp_root)
    assert done.returncode == 2
    assert done.stderr.strip() == "renderbench exec: error: cannot open file 'nowhere.py': no such file"
