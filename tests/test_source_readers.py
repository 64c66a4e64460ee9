"""A clip's media reader dying mid-render never yields wrong frames or samples.

Real MoviePy readers of a real video file are SIGKILLed while the render reads them (the clip
kills its own reader once, see ``tests.faulty_clips.reader_dies``). MoviePy alone would repeat
the last frame or pad the audio with silence and finish; every parallel renderer, on the local
pool and on Dask, retries with a fresh reader and writes exactly the clean render's frames and
audio, or fails naming the file when retries run out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.decode import framemd5
from impls import ClipSource, EncoderSpec, RenderJob, RenderResult, get_renderer
from impls.errors import SourceReadFailed
from tests.media import audio_md5, make_video

PARALLEL = ("disk", "pipe", "chunk")
FACTORY = "tests.faulty_clips:reader_dies"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small video file with moving detail and a tone, made by ffmpeg."""
    return make_video(tmp_path_factory.mktemp("media") / "source.mp4", "160x90", 2)


@pytest.fixture(scope="module")
def clean(source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], str]:
    """Frames and audio of the baseline's render of the edit, no reader killed."""
    out = tmp_path_factory.mktemp("clean")
    marker = out / "no-kill"
    marker.touch()
    job = _job(source, marker, out / "clean.mp4", at=10)
    get_renderer("baseline").render(job)
    return framemd5(job.output), audio_md5(job.output)


def _job(
    source: Path, marker: Path, output: Path, *, executor: str = "local", retries: int = 1,
    **kill: Any,
) -> RenderJob:  # fmt: skip
    return RenderJob(
        source=ClipSource(FACTORY, {"source": str(source), "marker": str(marker), **kill}),
        output=output,
        workers=2,
        encoder=EncoderSpec.lossless(),
        executor=executor,
        retries=retries,
    )


def _render_killed(
    name: str, source: Path, clean: tuple[list[str], str], tmp_path: Path, **job: Any
) -> RenderResult:
    """Render with a reader killed once; check it was, and that the output is the clean one."""
    marker = tmp_path / "killed"
    rendered = _job(source, marker, tmp_path / "out.mp4", **job)
    result = get_renderer(name).render(rendered)
    assert marker.exists(), "the reader was never killed"
    assert result.retries >= 1
    assert (framemd5(rendered.output), audio_md5(rendered.output)) == clean
    return result


@pytest.mark.parametrize("name", PARALLEL)
def test_video_reader_killed_mid_render_is_retried_exactly(
    name: str, source: Path, clean: tuple[list[str], str], tmp_path: Path
) -> None:
    result = _render_killed(name, source, clean, tmp_path, at=25)
    assert any(str(source) in why and "signal 9" in why for why in result.failures.values())


@pytest.mark.slow
def test_video_reader_killed_on_dask_is_retried_exactly(
    source: Path, clean: tuple[list[str], str], tmp_path: Path
) -> None:
    _render_killed("chunk", source, clean, tmp_path, at=25, executor="dask")


@pytest.mark.parametrize("name", ["pipe", "chunk"])
def test_audio_reader_killed_mid_track_is_retried_exactly(
    name: str, source: Path, clean: tuple[list[str], str], tmp_path: Path
) -> None:
    result = _render_killed(name, source, clean, tmp_path, audio_at=1.0)
    assert "audio track" in result.failures and result.retries == 1


@pytest.mark.parametrize(("name", "audio"), [("pipe", False), ("chunk", True)], ids=["video", "audio"])
def test_without_retries_the_render_fails_naming_the_file(
    name: str, audio: bool, source: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "killed"
    kill: dict[str, Any] = {"audio_at": 1.0} if audio else {"at": 25}
    job = _job(source, marker, tmp_path / "out.mp4", retries=0, **kill)
    with pytest.raises(SourceReadFailed) as caught:
        get_renderer(name).render(job)
    message = str(caught.value)
    assert str(source) in message and "killed by signal 9" in message
    assert ("the audio track" if audio else "while rendering frame") in message
    assert list(tmp_path.iterdir()) == [marker]


def test_end_of_file_short_read_keeps_moviepys_behaviour(source: Path) -> None:
    """Reading past the last frame (ffmpeg exited 0) is MoviePy's business: the baseline
    repeats the last frame there, so the renderers must too."""
    from moviepy import VideoFileClip

    from impls.moviepy.readers import guarded

    with guarded():
        clip = VideoFileClip(str(source))
        try:
            last = clip.reader.get_frame(clip.duration - 1 / clip.fps)
            with pytest.warns(UserWarning, match="Using the last valid frame"):
                beyond = clip.reader.get_frame(clip.duration + 0.5)
        finally:
            clip.close()
    assert (beyond == last).all()
