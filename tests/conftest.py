"""Shared fixtures. Tiny sizes everywhere: real ffmpeg and MoviePy, a few seconds in all."""

from __future__ import annotations

import multiprocessing.util
import signal
import tempfile
from pathlib import Path

import pytest

from harness.workloads import FRAME_INDEX, SLIDESHOW
from impls import ClipSource, EncoderSpec
from tests.renders import TINY_FRAME_INDEX, TINY_SLIDESHOW, BaselineRenders, render_baseline


def pytest_configure(config: pytest.Config) -> None:
    # A shell starts a background job (`make test &`, nohup) with SIGINT ignored, and an
    # ignored signal stays ignored across exec: every render the tests start would then
    # ignore the Ctrl-C the signal tests send it. A handler is reset to the default on exec.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def baseline_renders(tmp_path_factory: pytest.TempPathFactory) -> BaselineRenders:
    out = tmp_path_factory.mktemp("baseline")
    lossless = EncoderSpec.lossless()
    return BaselineRenders(
        slideshow=render_baseline(
            ClipSource(SLIDESHOW, TINY_SLIDESHOW), out / "slideshow.mp4", lossless
        ),
        frame_index=render_baseline(
            ClipSource(FRAME_INDEX, TINY_FRAME_INDEX), out / "frame_index.mp4", lossless
        ),
        frame_index_lossy=render_baseline(
            ClipSource(FRAME_INDEX, TINY_FRAME_INDEX),
            out / "frame_index_lossy.mp4",
            EncoderSpec(preset="ultrafast", crf=23),
        ),
    )


@pytest.fixture
def scratch_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private temp root for the render's scratch directories, to check they are removed."""
    # multiprocessing makes one pymp-* folder per process, on first need, and removes it at
    # exit; made here first it stays out of the render's scratch checks when a test runs alone.
    multiprocessing.util.get_temp_dir()
    root = tmp_path / "scratch"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root
