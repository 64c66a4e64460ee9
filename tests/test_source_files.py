"""Source video files that are missing, cut short, variable-frame-rate, silent, or whose sound
outlasts their picture.

Each is rendered through a clip that reads it whole (``VideoFileClip``) and through the ``edit``
workload (cuts, crossfades, captions, music), by the baseline and every parallel renderer:
each render either writes the baseline's frames (``int(duration × fps)`` of the clip, decoded
frames equal in lossless mode) or fails with an error that names the file and leaves no
output. Never a wrong frame count, never other pictures.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.decode import framemd5, probe
from impls import ClipSource, EncoderSpec, RenderJob, get_renderer
from impls.ffmpeg.probe import count_packets
from impls.model.timeline import Timeline
from tests.media import cut_short, make_video

PARALLEL = ("disk", "pipe", "chunk")
SIZE = "160x90"
SECONDS = 8.0  # 240 frames: chunks of 48 start more than 100 frames in, so workers seek


@dataclass(frozen=True)
class Kind:
    """A kind of source file: how to make it, and what the parallel renderers must do with it."""

    make: Callable[[Path], Path]
    refused: str | None = None  # what the parallel renderers' error says (regex); None: render
    baseline_refuses: bool = False  # MoviePy itself cannot open it
    fps_source: str = "fps"


def _index_lost(path: Path) -> Path:
    whole = make_video(path.with_name("index-at-end.mp4"), SIZE, SECONDS)
    return cut_short(whole, path, 0.6)


def _cut_short(path: Path) -> Path:
    whole = make_video(path.with_name("complete.mp4"), SIZE, SECONDS, faststart=True)
    return cut_short(whole, path, 0.5)


KINDS: dict[str, Kind] = {
    "missing": Kind(lambda path: path, refused=r"missing\.mp4", baseline_refuses=True),
    # The index (moov) is written last: without the end, nothing opens.
    "index-lost": Kind(_index_lost, refused=r"index-lost\.mp4.*(moov atom not found|Invalid data)", baseline_refuses=True),
    # The index is first: the file opens, and its pictures stop halfway through.
    "cut-short": Kind(_cut_short, refused=r"cut-short\.mp4 ends at frame \d+ .*cut short or damaged"),
    "variable-rate": Kind(
        lambda path: make_video(path, SIZE, SECONDS, variable_rate=True),
        refused=r"variable-rate\.mp4 has a variable frame rate.*fps_source=\"tbr\"",
    ),
    # The remedy the error names: MoviePy then numbers the frames as ffmpeg delivers them.
    "variable-rate-tbr": Kind(lambda path: make_video(path, SIZE, SECONDS, variable_rate=True), fps_source="tbr"),
    "silent": Kind(lambda path: make_video(path, SIZE, SECONDS, audio=False)),
    # The file lasts as long as its sound: MoviePy repeats the last picture for the last 2 s.
    "sound-outlasts-picture": Kind(lambda path: make_video(path, SIZE, SECONDS - 2, audio_seconds=SECONDS)),
}  # fmt: skip

#: The edit of each kind of file (its cuts come from all over the file; it takes no fps_source).
EDITED = ("cut-short", "variable-rate", "silent", "sound-outlasts-picture")


def _source(factory: str, path: Path, kind: Kind) -> ClipSource:
    if factory == "file":
        return ClipSource("tests.file_clips:whole", {"source": str(path), "fps_source": kind.fps_source})
    size = {"width": 160, "height": 90, "fps": 30, "duration": 3.0}
    return ClipSource("harness.workloads.edit:make", {**size, "source": str(path)})


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    return {name: kind.make(folder / f"{name}.mp4") for name, kind in KINDS.items()}


@dataclass(frozen=True)
class Rendered:
    frames: int
    md5: list[str]
    audio: bool


_baselines: dict[tuple[str, str], Rendered | Exception] = {}


def _render(name: str, source: ClipSource, output: Path) -> Rendered:
    job = RenderJob(
        source=source, output=output, workers=2, encoder=EncoderSpec.lossless(),
        options={"chunks": 5} if name == "chunk" else {},
    )  # fmt: skip
    result = get_renderer(name).render(job)
    assert count_packets(output) == result.frames
    audio = any(s["codec_type"] == "audio" for s in probe(output)["streams"])
    return Rendered(result.frames, framemd5(output), audio)


def _expected_frames(source: ClipSource) -> int:
    clip: Any = source.load()
    try:
        return Timeline.for_clip(clip).frames
    finally:
        clip.close()


def _baseline(factory: str, kind: str, files: dict[str, Path], folder: Path) -> Rendered | Exception:
    key = (factory, kind)
    if key not in _baselines:
        source = _source(factory, files[kind], KINDS[kind])
        try:
            _baselines[key] = _render("baseline", source, folder / f"baseline-{factory}-{kind}.mp4")
        except Exception as exc:
            _baselines[key] = exc
    return _baselines[key]


CASES = [("file", kind) for kind in KINDS] + [("edit", kind) for kind in EDITED]


# MoviePy warns each time it repeats a picture where a file's pictures end.
@pytest.mark.filterwarnings("ignore:In file .* bytes wanted but .* bytes read:UserWarning")
@pytest.mark.parametrize("name", ("baseline", *PARALLEL))
@pytest.mark.parametrize(("factory", "kind"), CASES, ids=[f"{f}-{k}" for f, k in CASES])
def test_source_file_renders_exactly_or_fails_naming_it(
    factory: str, kind: str, name: str, files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp(f"{name}-{factory}-{kind}")
    expected = KINDS[kind]
    source = _source(factory, files[kind], expected)
    baseline = _baseline(factory, kind, files, tmp_path_factory.mktemp("baselines"))
    if expected.baseline_refuses:
        assert isinstance(baseline, Exception)
        assert re.search(str(expected.refused), str(baseline), re.S), baseline
    else:
        assert isinstance(baseline, Rendered), baseline
        assert baseline.frames == len(baseline.md5) == _expected_frames(source)
    if name == "baseline":
        return

    output = folder / f"{name}.mp4"
    if expected.refused is not None:
        with pytest.raises(Exception) as caught:
            _render(name, source, output)
        assert re.search(expected.refused, str(caught.value), re.S), caught.value
        assert list(folder.iterdir()) == []  # nothing written, not even a partial file
        return
    assert isinstance(baseline, Rendered)
    rendered = _render(name, source, output)
    assert rendered.frames == baseline.frames
    assert rendered.md5 == baseline.md5
    assert rendered.audio == baseline.audio == (factory == "edit" or kind != "silent")
