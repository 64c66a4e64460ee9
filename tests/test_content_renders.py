"""The file edit, the captions and the LaTeX explainer rendered by every renderer, tiny and lossless.

Every MoviePy renderer's output of ``edit`` and ``captions`` decodes to exactly the baseline's
frames, with the baseline's sound (the source's own mixed with a music file, in the edit), on
the local pool and on a private Dask cluster; every Manim renderer's output of ``explainer-tex``
(Tex and MathTex compiled by LaTeX) decodes to exactly manim-serial's frames.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.decode import framemd5
from harness.workloads import CAPTIONS, EDIT, explainer_tex
from impls import ClipSource, EncoderSpec, RenderJob, RenderResult, get_renderer
from impls.ffmpeg.probe import count_packets
from impls.model.timeline import Timeline
from tests.media import audio_md5

PARALLEL = ("disk", "pipe", "chunk")

#: 320x180 keeps the text legible enough to be worth drawing; 45 and 60 frames.
SOURCES = {
    "edit": ClipSource(EDIT, {"width": 320, "height": 180, "fps": 30, "duration": 1.5, "source_seconds": 4.0}),
    "captions": ClipSource(CAPTIONS, {"width": 320, "height": 180, "fps": 30, "duration": 2.0, "source_seconds": 4.0}),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Reference:
    job: RenderJob
    frames: int
    md5: list[str]
    audio: str


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Reference]:
    """The baseline's lossless render of each workload, and what it must decode to."""
    folder = tmp_path_factory.mktemp("baseline")
    made = {}
    for name, source in SOURCES.items():
        job = RenderJob(source=source, output=folder / f"{name}.mp4", encoder=EncoderSpec.lossless())
        get_renderer("baseline").render(job)
        clip = source.load()
        try:
            frames = Timeline.for_clip(clip).frames
        finally:
            clip.close()
        made[name] = Reference(job, frames, framemd5(job.output), audio_md5(job.output))
    return made


def _check(result: RenderResult, job: RenderJob, reference: Reference) -> None:
    assert result.frames == reference.frames == count_packets(job.output)
    assert framemd5(job.output) == reference.md5  # chunk seams included
    assert audio_md5(job.output) == reference.audio


@pytest.mark.parametrize("name", PARALLEL)
@pytest.mark.parametrize("workload", SOURCES)
def test_lossless_frames_and_sound_equal_baseline(
    workload: str, name: str, references: dict[str, Reference], tmp_path: Path
) -> None:
    reference = references[workload]
    assert reference.frames == len(reference.md5) > 0
    job = dataclasses.replace(reference.job, output=tmp_path / f"{name}.mp4", workers=2)
    result = get_renderer(name).render(job)
    assert result.retries == 0 and not result.fallback_used
    _check(result, job, reference)


@pytest.mark.parametrize("workload", SOURCES)
def test_chunk_seams_inside_cuts_and_crossfades(
    workload: str, references: dict[str, Reference], tmp_path: Path
) -> None:
    # Seven chunks of 6 to 9 frames: seams fall inside cuts, crossfades and fading titles, and
    # every chunk's worker seeks its files to where the chunk starts.
    reference = references[workload]
    job = dataclasses.replace(reference.job, output=tmp_path / "chunk.mp4", workers=3, options={"chunks": 7})
    result = get_renderer("chunk").render(job)
    assert result.info["chunks"] == 7
    _check(result, job, reference)


@pytest.mark.slow
def test_edit_on_a_private_local_cluster_equals_baseline(references: dict[str, Reference], tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    reference = references["edit"]
    job = dataclasses.replace(reference.job, output=tmp_path / "chunk-dask.mp4", workers=2, executor="dask")
    result = get_renderer("chunk").render(job)
    assert result.info["executor"] == "dask" and result.info["dask"]["cluster"] == "local"
    _check(result, job, reference)


# ---------------------------------------------------------------------------------------------
# The LaTeX explainer


@pytest.fixture(scope="module")
def tex_serial(tmp_path_factory: pytest.TempPathFactory) -> RenderResult:
    """manim-serial on two short LaTeX scenes at -ql, with narration (the outro's outlasts it)."""
    folder = tmp_path_factory.mktemp("explainer-tex")
    source = explainer_tex.source(folder, quality="l", scenes=("TexIntro", "Outro"))
    return get_renderer("manim-serial").render(RenderJob(source, folder / "serial.mp4", workers=2))


@pytest.mark.parametrize("name", ["manim-scenes", "manim-inflight", "manim-ranges"])
def test_manim_renderers_on_latex_scenes_match_serial(name: str, tex_serial: RenderResult, tmp_path: Path) -> None:
    source = explainer_tex.source(tmp_path / "narration", quality="l", scenes=("TexIntro", "Outro"))
    output = tmp_path / f"{name}.mp4"
    result = get_renderer(name).render(RenderJob(source, output, workers=2))
    assert (result.frames, result.fps) == (tex_serial.frames, tex_serial.fps)
    assert result.info["scenes"] == tex_serial.info["scenes"]
    assert tex_serial.info["scenes"][-1]["held"] > 0  # the outro's narration outlasts it
    assert count_packets(output) == tex_serial.frames
    assert framemd5(output) == framemd5(tex_serial.output)
