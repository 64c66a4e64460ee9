"""What a render writes is its own: scratch directories and shared memory are owner-only, and
a file or link another user planted at a name the render might pick is never written through.

Scratch paths are watched while a slow render runs (a thread walks the scratch root every few
milliseconds), so directories that exist only mid-render are checked too. The "guessed name"
tests make the name draw predictable (the random part of the partial output file, of the
scratch directory, of the shared-memory block), plant a symbolic link to a victim there, and
check that the render picks another name and the victim is untouched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any

import pytest

from harness.validate import decode_indices
from harness.workloads import FRAME_INDEX
from impls import ClipSource, EncoderSpec, RenderJob, get_renderer
from impls.ffmpeg import files
from tests.test_reliability import ROOT, Scenes, leaves_nothing, out_dir, scenes  # noqa: F401

SLOW = "tests.faulty_clips:slow"
SMALL: dict[str, Any] = {"width": 160, "height": 90, "fps": 30}
#: Directories renderbench itself makes in a scratch root: each must be owner-only.
_OURS = ("renderbench-", "frames", "segments")


@dataclasses.dataclass
class Seen:
    """Every path seen under a root while a render ran: its mode and owner."""

    paths: dict[Path, tuple[int, int]] = dataclasses.field(default_factory=dict)

    def directories(self) -> dict[Path, int]:
        return {path: mode for path, (mode, _) in self.paths.items() if stat.S_ISDIR(mode)}


@contextlib.contextmanager
def watching(root: Path) -> Iterator[Seen]:
    """Walk ``root`` over and over until the block ends, recording what appears."""
    seen = Seen()
    stop = threading.Event()

    def walk() -> None:
        while not stop.is_set():
            for folder, names, more in os.walk(root):
                for name in [*names, *more]:
                    path = Path(folder) / name
                    with contextlib.suppress(OSError):
                        info = path.lstat()
                        seen.paths.setdefault(path, (info.st_mode, info.st_uid))
            stop.wait(0.005)

    thread = threading.Thread(target=walk, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()


def _check_private(seen: Seen, root: Path) -> None:
    assert seen.paths, "the render left no trace to check in the scratch root"
    for path, (mode, uid) in seen.paths.items():
        top = root / path.relative_to(root).parts[0]
        top_mode, top_uid = seen.paths[top]
        assert stat.S_ISDIR(top_mode) and stat.S_IMODE(top_mode) == 0o700, (top, oct(top_mode))
        assert top_uid == os.getuid()
    for path, mode in seen.directories().items():
        if path.name.startswith(_OURS):
            assert stat.S_IMODE(mode) == 0o700, (path, oct(mode))


def _slow_job(out: Path, name: str = "video.mp4", **changes: Any) -> RenderJob:
    job = RenderJob(
        ClipSource(SLOW, {**SMALL, "delay": 0.03, "duration": 1}), out / name, workers=2,
        encoder=EncoderSpec(preset="ultrafast"), audio=False,
    )  # fmt: skip
    return dataclasses.replace(job, **changes)


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize("name", ["baseline", "disk", "pipe", "chunk"])
def test_scratch_directories_are_owner_only(name: str, scratch_root: Path, out_dir: Path) -> None:
    audio = name == "baseline"  # the baseline's only scratch file is its audio track
    clip = {"audio": True} if audio else {}
    job = _slow_job(out_dir, audio=audio)
    job = dataclasses.replace(job, source=ClipSource(SLOW, {**job.source.kwargs, **clip}))  # type: ignore[union-attr]
    with watching(scratch_root) as seen:
        get_renderer(name).render(job)
    _check_private(seen, scratch_root)
    if name in ("disk", "chunk"):
        made = {"disk": "frames", "chunk": "segments"}[name]
        assert any(path.name == made for path in seen.directories()), sorted(seen.paths)


@pytest.mark.slow
@pytest.mark.usefixtures("leaves_nothing")
def test_manim_media_directories_are_owner_only(scenes: Scenes, scratch_root: Path, out_dir: Path) -> None:
    job = RenderJob(scenes.source("Short", "One"), out_dir / "video.mp4", workers=2)
    with watching(scratch_root) as seen:
        get_renderer("manim-scenes").render(job)
    _check_private(seen, scratch_root)


@pytest.mark.slow
def test_dask_scratch_is_owner_only(scratch_root: Path, out_dir: Path) -> None:
    pytest.importorskip("distributed")
    job = _slow_job(out_dir, executor="dask", workers=1)
    with watching(scratch_root) as seen:
        get_renderer("chunk").render(job)
    _check_private(seen, scratch_root)
    made = [path for path in seen.directories() if path.name.startswith("renderbench-seg-")]
    assert made, "no segment directory was seen on the workers"
    assert list(scratch_root.iterdir()) == []


def test_the_partial_output_file_is_owner_only_until_it_is_complete(out_dir: Path) -> None:
    job = _slow_job(out_dir)
    with watching(out_dir) as seen:
        get_renderer("pipe").render(job)
    partial = [(path, mode) for path, (mode, _) in seen.paths.items() if ".partial-" in path.name]
    assert partial and all(stat.S_IMODE(mode) == 0o600 for _, mode in partial), partial
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(job.output.stat().st_mode) == 0o666 & ~umask


def test_shared_memory_blocks_are_owner_only(out_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pipe's frames travel through a block in /dev/shm, which every user can list."""
    blocks = Draws([], shared_memory._make_filename)  # type: ignore[attr-defined]
    names: list[str] = []

    def draw() -> str:
        name = blocks()
        names.append(name.lstrip("/"))
        return name

    monkeypatch.setattr(shared_memory, "_make_filename", draw)
    with watching(Path("/dev/shm")) as seen:
        get_renderer("pipe").render(_slow_job(out_dir))
    ours = {path.name: info for path, info in seen.paths.items() if path.name in names}
    assert ours, f"no shared-memory block of the render was seen ({names})"
    for mode, uid in ours.values():
        assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o600 and uid == os.getuid()
    assert not any((Path("/dev/shm") / name).exists() for name in names)


# ---------------------------------------------------------------------------------------------
# Names another user could guess


@dataclasses.dataclass
class Draws:
    """A name draw that gives the guessed ``first`` names, then real random ones; counts."""

    first: list[str]
    then: Callable[[], str]
    drawn: int = 0

    def __call__(self) -> str:
        self.drawn += 1
        return self.first.pop(0) if self.first else self.then()

    def __iter__(self) -> Iterator[str]:  # tempfile's candidate names are an iterator
        return self

    def __next__(self) -> str:
        return self()


@dataclasses.dataclass
class Planted:
    victim_file: Path
    victim_dir: Path
    links: list[Path] = dataclasses.field(default_factory=list)

    def plant(self, at: Path, target: Path) -> None:
        at.symlink_to(target)
        self.links.append(at)

    def untouched(self) -> None:
        assert self.victim_file.read_bytes() == b"victim"
        assert list(self.victim_dir.iterdir()) == []
        for link in self.links:
            assert link.is_symlink()


@pytest.fixture
def planted(tmp_path: Path) -> Iterator[Planted]:
    victims = tmp_path / "victims"
    victims.mkdir()
    (victims / "file").write_bytes(b"victim")
    (victims / "dir").mkdir()
    found = Planted(victims / "file", victims / "dir")
    yield found
    for link in found.links:
        link.unlink(missing_ok=True)


@pytest.mark.parametrize("name", ["baseline", "pipe"])
def test_links_planted_at_guessed_names_are_never_written_through(
    name: str, scratch_root: Path, out_dir: Path, planted: Planted, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _slow_job(out_dir, source=ClipSource(FRAME_INDEX, {**SMALL, "duration": 1}))
    get_renderer(name).render(job)  # tool checks are cached: the render's own draws come first
    job.output.unlink()
    # The partial output file beside the output.
    partial = Draws(["guessed"], files._token)
    monkeypatch.setattr(files, "_token", partial)
    planted.plant(out_dir / ".video.partial-guessed.mp4", planted.victim_file)
    # The scratch directory (mkdtemp's draw, in the scratch root).
    scratch_names = Draws(["guessed"], tempfile._get_candidate_names().__next__)  # type: ignore[attr-defined]
    monkeypatch.setattr(tempfile, "_get_candidate_names", lambda: scratch_names)
    planted.plant(scratch_root / f"renderbench-{name}-guessed", planted.victim_dir)
    # The shared-memory block of pipe's frames (in /dev/shm, shared by every user).
    block = f"psm_guessed{os.getpid()}"
    blocks = Draws([f"/{block}"], shared_memory._make_filename)  # type: ignore[attr-defined]
    monkeypatch.setattr(shared_memory, "_make_filename", blocks)
    planted.plant(Path("/dev/shm") / block, planted.victim_file)

    get_renderer(name).render(job)
    assert decode_indices(job.output) == list(range(30))
    planted.untouched()
    assert (partial.drawn, scratch_names.drawn) >= (2, 2), "the guessed names were not drawn first"
    assert blocks.drawn >= (2 if name == "pipe" else 0)
    assert sorted(p.name for p in out_dir.iterdir()) == [".video.partial-guessed.mp4", "video.mp4"]
    assert sorted(p.name for p in scratch_root.iterdir()) == [f"renderbench-{name}-guessed"]


def test_the_partial_output_file_is_reserved_exclusively(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "-leading dash vidéo.mp4"
    (tmp_path / ".-leading dash vidéo.partial-taken.mp4").write_bytes(b"someone's")
    monkeypatch.setattr(files, "_token", Draws(["taken"], files._token))
    with files.atomic_output(out) as tmp:
        assert tmp.is_absolute() and tmp.exists() and "taken" not in tmp.name
        tmp.write_bytes(b"video")
    assert out.read_bytes() == b"video"
    assert (tmp_path / ".-leading dash vidéo.partial-taken.mp4").read_bytes() == b"someone's"


def test_directories_are_made_with_an_explicit_mode_or_by_mkdtemp() -> None:
    """Read from the source: every directory the library makes is mkdtemp's (owner-only, a
    fresh name) or says its mode, and nothing uses tempfile.mktemp (a name, not a file)."""
    import ast

    found: list[str] = []
    for path in sorted((ROOT / "impls").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            unsafe = node.func.attr == "mktemp"
            no_mode = node.func.attr in ("mkdir", "makedirs") and all(kw.arg != "mode" for kw in node.keywords)
            if unsafe or no_mode:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.attr}")
    assert found == []
