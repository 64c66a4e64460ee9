"""A full disk mid-render: the scratch directory's filesystem or the output's.

Filled for real: each test mounts a small tmpfs (``mount -t tmpfs -o size=...``, which needs
root or CAP_SYS_ADMIN; skipped with the reason elsewhere) as the scratch root (``TMPDIR``) or
as the output's directory, and the clip fills it mid-render, as another program writing to the
same disk would. Where nothing can be mounted, the size-limited runs still prove the same
guarantees: the render runs in a child process whose files may not grow past
``RLIMIT_FSIZE`` (``ulimit -f``), so its writes fail with EFBIG instead of ENOSPC.

Every case: a :class:`DiskFull` that names the filesystem (its mount point, type and free
space) and what was being written; the file that was at the output path untouched; nothing
else left on either filesystem; no process left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from impls import ClipSource, EncoderSpec, ManimSource, RenderJob, get_renderer
from impls.errors import DiskFull
from impls.ffmpeg.files import disk_full, filesystem, full_reason, writing
from tests.test_reliability import ROOT, descendants, wait_until_gone

FILLS = "tests.faulty_clips:fills_disk"
CLIP: dict[str, Any] = {"width": 160, "height": 90, "fps": 30, "duration": 2}
PREVIOUS = b"the previous video, which a failed render leaves as it was"
HOG = "hog"

SCRIPT = '''
from pathlib import Path
from manim import *
from tests.faulty_clips import fill_filesystem

class Fills(Scene):
    def construct(self):
        self.play(Create(Square()), run_time=0.4)
        fill_filesystem(HOG)
        self.play(Create(Circle()), run_time=0.4)
        self.wait(0.2)
'''


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.strip() if isinstance(exc, subprocess.CalledProcessError) else str(exc)
        pytest.skip(
            f"cannot mount a tmpfs here ({detail or 'mount failed'}): needs root or CAP_SYS_ADMIN; "
            "test_size_limited_render_* cover a full disk without one"
        )


@dataclasses.dataclass
class Disks:
    """The render's scratch root and output directory; one of them a small tmpfs (``full``)."""

    scratch: Path
    out: Path
    full: Path

    @property
    def hog(self) -> Path:
        return self.full / HOG

    def leftovers(self) -> tuple[list[str], list[str]]:
        """What is left in the scratch root and the output directory, the filler aside."""
        self.hog.unlink(missing_ok=True)
        return sorted(p.name for p in self.scratch.iterdir()), sorted(p.name for p in self.out.iterdir())


@pytest.fixture(params=["scratch", "output"])
def disks(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Disks]:
    """A 16 MiB tmpfs as the scratch root (``TMPDIR``) or as the output directory."""
    import multiprocessing.util

    multiprocessing.util.get_temp_dir()  # the interpreter's own, made before the patch
    full = tmp_path / "tmpfs"
    _mount_tmpfs(full, "16m")
    try:
        scratch, out = (full, tmp_path / "out") if request.param == "scratch" else (tmp_path / "scratch", full)
        for folder in (scratch, out):
            folder.mkdir(exist_ok=True)
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        monkeypatch.setenv("TMPDIR", str(scratch))  # manim's processes, MoviePy's
        yield Disks(scratch, out, full)
    finally:
        if subprocess.run(["umount", str(full)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(full)], capture_output=True, check=False)


@pytest.fixture
def no_process_left() -> Iterator[None]:
    before = set(descendants())
    yield
    assert wait_until_gone([p for pid, p in descendants().items() if pid not in before]) == []


def _check(error: DiskFull, disks: Disks, output: Path) -> None:
    assert error.reason == "no space left on device"
    assert error.mount == str(disks.full) and error.fstype == "tmpfs"
    assert str(error).startswith(f"disk full: no space left on device on the filesystem mounted at {disks.full} (tmpfs, ")
    assert Path(error.path).is_relative_to(disks.full), error.path
    assert output.read_bytes() == PREVIOUS
    assert disks.leftovers() == ([], [output.name])


def _clip_job(disks: Disks, **fault: Any) -> RenderJob:
    output = disks.out / "video.mp4"
    output.write_bytes(PREVIOUS)
    audio = "audio_at" in fault
    return RenderJob(
        ClipSource(FILLS, {**CLIP, "hog": str(disks.hog), **fault}), output, workers=2,
        encoder=EncoderSpec(preset="ultrafast"), audio=audio,
    )  # fmt: skip


@pytest.mark.usefixtures("no_process_left")
@pytest.mark.parametrize("name", ["baseline", "disk", "pipe", "chunk"])
def test_disk_filling_up_mid_render_is_named_and_leaves_nothing(name: str, disks: Disks) -> None:
    """Frames filling the disk: the renderers' frame files, segments and encodes (scratch), or
    the output being written (the baseline) or moved into place (the others)."""
    if name == "baseline" and disks.full == disks.scratch:
        pytest.skip("the baseline keeps only its audio track in scratch: see the audio case")
    job = _clip_job(disks, at=20)
    with pytest.raises(DiskFull) as caught:
        get_renderer(name).render(job)
    _check(caught.value, disks, job.output)


@pytest.mark.usefixtures("no_process_left")
@pytest.mark.parametrize("name", ["baseline", "pipe"])
def test_disk_filling_up_while_the_audio_track_is_encoded(name: str, disks: Disks) -> None:
    """The audio track is encoded first, by MoviePy, into scratch (every MoviePy renderer alike)
    or, for the baseline, muxed straight into the output."""
    job = _clip_job(disks, audio_at=0.5)
    with pytest.raises(DiskFull) as caught:
        get_renderer(name).render(job)
    _check(caught.value, disks, job.output)


@pytest.mark.slow
@pytest.mark.usefixtures("no_process_left")
@pytest.mark.parametrize("name", ["manim-scenes", "manim-inflight"])
def test_manim_filling_the_disk_mid_scene_is_named_and_leaves_nothing(
    name: str, disks: Disks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scene fills the disk between two animations: manim's next partial movie fails
    (media directories are in scratch), or the assembled video cannot be moved into place."""
    script = tmp_path / "scenes.py"
    script.write_text(SCRIPT.replace("HOG", repr(str(disks.hog))))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # manim's process imports tests.faulty_clips
    output = disks.out / "video.mp4"
    output.write_bytes(PREVIOUS)
    job = RenderJob(ManimSource(script, ("Fills",), quality="l"), output, workers=1, retries=2)
    with pytest.raises(DiskFull) as caught:
        get_renderer(name).render(job)
    _check(caught.value, disks, output)


# ---------------------------------------------------------------------------------------------
# Without a mount: a file size limit on the render's process tree


_CHILD = """
import json, sys
from impls import ClipSource, EncoderSpec, RenderJob, get_renderer
from impls.errors import DiskFull
spec = json.loads(sys.argv[1])
job = RenderJob(ClipSource(spec["factory"], spec["kwargs"]), spec["output"], workers=2,
                encoder=EncoderSpec(preset="ultrafast", crf=0), audio=False)
try:
    get_renderer(spec["renderer"]).render(job)
except DiskFull as exc:
    print(json.dumps({"reason": exc.reason, "path": exc.path, "message": str(exc)}))
    sys.exit(1)
"""

#: Bytes a file of the render may hold: more than pipe's shared-memory block (a file in
#: /dev/shm: 4 frames of 173 KB) and than a PPM frame, much less than the noisy clip's
#: lossless video (about 6 MB).
_LIMIT = 1 << 20


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (_LIMIT, _LIMIT))
    # Ignored, a write past the limit fails with EFBIG instead of killing the writer.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


@pytest.mark.parametrize("name", ["baseline", "disk", "pipe", "chunk"])
def test_size_limited_render_is_named_and_leaves_nothing(name: str, tmp_path: Path) -> None:
    temp, out = tmp_path / "temp", tmp_path / "out"
    temp.mkdir()
    out.mkdir()
    output = out / "video.mp4"
    output.write_bytes(PREVIOUS)
    spec = {
        "renderer": name, "output": str(output), "factory": "tests.faulty_clips:noisy",
        "kwargs": {**CLIP, "width": 320, "height": 180, "duration": 1.5},
    }  # fmt: skip
    env = {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(spec)], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120, preexec_fn=_limit_file_size, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["reason"] == "file too large"
    assert report["message"].startswith("file too large for the filesystem mounted at ")
    assert "ulimit -f" in report["message"]
    assert output.read_bytes() == PREVIOUS
    assert sorted(p.name for p in out.iterdir()) == [output.name]
    assert list(temp.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# The pieces


def test_full_reason_reads_errnos_and_tool_messages() -> None:
    assert full_reason(OSError(errno.ENOSPC, "No space left on device")) == "no space left on device"
    assert full_reason(OSError(errno.EDQUOT, "Disk quota exceeded")) == "disk quota exceeded"
    assert full_reason(text="av_interleaved_write_frame(): No space left on device") == "no space left on device"
    assert full_reason(text="OSError: [Errno 122] Disk\n   quota exceeded") == "disk quota exceeded"
    assert full_reason(text="│ OSError: [Errno 28] No space │\n│ left on device │") == "no space left on device"
    assert full_reason(OSError(errno.EACCES, "Permission denied"), "Invalid data found") is None


def test_filesystem_names_the_mount_point_of_a_path_not_yet_written(tmp_path: Path) -> None:
    fs = filesystem(tmp_path / "not" / "yet" / "there.mp4")
    assert os.path.ismount(fs.mount) and tmp_path.is_relative_to(fs.mount)
    assert 0 <= fs.free <= fs.total


def test_disk_full_pickles_with_its_facts(tmp_path: Path) -> None:
    import pickle

    error = disk_full(tmp_path / "x.mp4", "writing x.mp4", OSError(errno.ENOSPC, "No space left on device"))
    assert error is not None
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, DiskFull) and str(copy) == str(error)
    assert (copy.mount, copy.free, copy.path) == (error.mount, error.free, str(tmp_path / "x.mp4"))


def test_writing_turns_only_a_full_disk_into_disk_full(tmp_path: Path) -> None:
    target = tmp_path / f"{uuid.uuid4().hex}.bin"
    with pytest.raises(DiskFull, match=r"while writing it \("):
        with writing(target, "writing it"):
            raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(PermissionError):
        with writing(target, "writing it"):
            raise PermissionError(errno.EACCES, "Permission denied")
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
