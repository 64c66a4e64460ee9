"""What every output of a session is checked against, each made once per session.

- the *reference output* of each workload x encoder: the reference renderer's (``baseline``,
  ``manim-serial``) output of its own case, or, when that case was deselected, a render made
  here on demand (untimed);
- the *source reference* of each workload (and pixel format of the outputs, see
  :func:`source_encoder`): a lossless render of the exact source frames, which
  quality-mode validation measures PSNR against (two lossy encodes of the same frames differ
  by ~40 dB, so comparing an output with the lossy reference alone would prove little);
- the *expectation* (frame count, exact rate, size, codec, audio) of each output.

Every output also gets its PSNR and SSIM against the source reference (one ffmpeg pass), which
the results record beside its bitrate.

How an output is checked: ``frame_index`` frames must decode to their own index; with a
lossless encoder, decoded frames must equal the reference output's exactly; otherwise the
output's PSNR against the source reference must be within 0.5 dB of the reference output's.
A workload with mode ``none`` (a user's choice) gets the structural checks only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.matrix import Case
from harness.results import slug
from harness.validate import Expectation, ValidationReport, probe_video, validate
from impls.model.protocol import ClipObject, ClipSource, EncoderSpec, MoviePySource, Renderer
from impls.model.protocol import RenderJob
from impls.model.timeline import Timeline

#: Encoder of source references: lossless, and the fastest x264 preset (size does not matter).
SOURCE_ENCODER = EncoderSpec(codec="libx264", preset="ultrafast", crf=0)


def source_encoder(pix_fmt: str) -> EncoderSpec:
    """The lossless encoder of a source reference in ``pix_fmt``, the outputs' pixel format.

    An output is compared with the source frames in its own pixel format: a 4:2:2 10-bit ProRes
    output against a 4:2:0 8-bit reference would be charged for the reference's own chroma
    loss (measured: 39 dB instead of 52 on the gradient). yuv420p keeps x264 crf 0; other
    formats use FFV1, lossless in every format (x264 crf 0 is lossless at 8 bits only).
    """
    if pix_fmt == SOURCE_ENCODER.pix_fmt:
        return SOURCE_ENCODER
    return EncoderSpec(codec="ffv1", preset=None, crf=None, pix_fmt=pix_fmt)

#: Containers per encoder where MP4 is not the one. ProRes lives in QuickTime. VP9 stays in MP4:
#: WebM refuses the slideshow's AAC track, and Matroska keeps times in milliseconds only, so
#: chunk segments could not be joined at exact durations (MP4 keeps each stream's exact length).
#: VP8 and FFV1 have no MP4 mapping: Matroska.
_SUFFIX = {"prores_ks": ".mov", "prores_aw": ".mov", "prores": ".mov", "libvpx": ".mkv", "ffv1": ".mkv"}


def output_suffix(spec: EncoderSpec) -> str:
    """The output file suffix for ``spec``: a container that takes its codec and an AAC track."""
    return _SUFFIX.get(spec.codec, ".mp4")


@dataclass
class Made:
    """A file made once per session, or why it could not be made."""

    path: Path | None
    error: str | None = None
    psnr: float | None = None  # reference outputs: PSNR against the source reference


@dataclass(frozen=True)
class ClipFacts:
    timeline: Timeline
    size: tuple[int, int]
    has_audio: bool


def clip_facts(source: MoviePySource) -> ClipFacts:
    """Frame count, size and audio of a MoviePy source (builds a factory's clip once, renders
    nothing)."""
    clip = source.load()
    try:
        timeline = Timeline.for_clip(clip)
        width, height = clip.size
        return ClipFacts(timeline, (int(width), int(height)), clip.audio is not None)
    finally:
        source.release(clip)


class References:
    """The session's references and the validation of each output against them."""

    def __init__(self, workdir: Callable[[], Path], renderers: Callable[[str], Renderer | None]) -> None:
        self._workdir = workdir
        self._renderer = renderers
        self._outputs: dict[tuple[str, str, str], Made] = {}
        self._sources: dict[tuple[str, str, str], Made] = {}
        self._clips: dict[tuple[str, str], ClipFacts | str] = {}

    # -- made once ---------------------------------------------------------------------------

    def _render_untimed(self, case: Case, encoder: EncoderSpec, path: Path, audio: bool) -> Made:
        renderer = self._renderer(case.reference or "")
        if renderer is None or case.source is None:
            return Made(None, f"reference renderer {case.reference!r} is not available")
        job = RenderJob(source=case.source, output=path, workers=1, encoder=encoder, audio=audio)
        try:
            renderer.render(job)
        except Exception as exc:
            return Made(None, f"{case.reference} failed: {type(exc).__name__}: {exc}")
        return Made(path)

    def record_reference(self, case: Case, path: Path | None, error: str | None = None, psnr: float | None = None) -> bool:
        """The reference case itself ran: its (first valid) output is the group's reference.

        True when ``path`` became the reference output (the caller must then keep the file).
        """
        if case.group not in self._outputs or self._outputs[case.group].path is None:
            self._outputs[case.group] = Made(path, error, psnr)
            return path is not None
        return False

    def reference_output(self, case: Case) -> Made:
        """The reference output of ``case``'s group; rendered now when its case did not run."""
        made = self._outputs.get(case.group)
        if made is None:
            if case.reference is None:
                made = Made(None, "no reference renderer supports this workload")
            else:
                path = self._workdir() / f"reference-{slug(*case.group)}{output_suffix(case.encoder)}"
                made = self._render_untimed(case, case.encoder, path, audio=True)
                if made.path is not None and self._needs_source(case):
                    made.psnr = self._psnr_of(made.path, case)
            self._outputs[case.group] = made
        return made

    def source_reference(self, case: Case) -> Made:
        """The lossless render of ``case``'s source frames in its encoder's pixel format."""
        pix_fmt = case.encoder.pix_fmt
        key = (case.workload, case.preset, pix_fmt)
        made = self._sources.get(key)
        if made is None:
            tag = "" if pix_fmt == SOURCE_ENCODER.pix_fmt else f"-{pix_fmt}"
            path = self._workdir() / f"source-{case.workload}-{case.preset}{tag}.mkv"
            made = self._render_untimed(case, source_encoder(pix_fmt), path, audio=False)
            if made.error is not None:
                made.error = f"lossless source reference: {made.error}"
            self._sources[key] = made
        return made

    def _clip(self, case: Case) -> ClipFacts | str:
        key = (case.workload, case.preset)
        if key not in self._clips:
            assert isinstance(case.source, ClipSource | ClipObject)
            try:
                self._clips[key] = clip_facts(case.source)
            except Exception as exc:
                self._clips[key] = f"cannot build the clip: {type(exc).__name__}: {exc}"
        return self._clips[key]

    # -- checking ----------------------------------------------------------------------------

    def expectation(self, case: Case, job: RenderJob, output: Path) -> Expectation | str:
        """What ``output`` must look like, or why that cannot be known."""
        if isinstance(case.source, ClipSource | ClipObject):
            facts = self._clip(case)
            if isinstance(facts, str):
                return facts
            return Expectation.for_job(
                job, facts.timeline, facts.size, job.audio and facts.has_audio, renderer=case.renderer
            )
        # Manim decides frame counts itself (scene lengths, held frames for long audio): the
        # reference renderer's output says what they are.
        ref_path = output if case.is_reference else self.reference_output(case).path
        if ref_path is None:
            return f"no reference output to take frame count and size from ({self.reference_output(case).error})"
        ref = probe_video(ref_path)
        return Expectation(
            frames=ref.frames, rate=ref.rate, width=ref.width, height=ref.height,
            codec=job.encoder.codec, pix_fmt=job.encoder.pix_fmt,
            audio=ref.audio_codec is not None, lossless=job.encoder.is_lossless,
        )  # fmt: skip

    def _needs_source(self, case: Case) -> bool:
        return case.mode != "index" and not case.encoder.is_lossless

    def _psnr_of(self, path: Path, case: Case) -> float | None:
        source = self.source_reference(case)
        if source.path is None:
            return None
        from harness.validate import psnr

        try:
            return psnr(path, source.path)
        except Exception:
            return None

    def check(self, case: Case, job: RenderJob, output: Path) -> ValidationReport:
        """Validate one output of ``case`` (the module docstring says how) and measure its quality.

        Every output's PSNR and SSIM against the source reference are in the report (quality
        mode measures them anyway; the other modes, ``none`` aside, get one extra comparison),
        so that encoder settings can be compared whatever decided the output's validity.
        """
        report = self._check(case, job, output)
        if case.mode != "none" and report.fidelity != "quality" and report.facts is not None:
            source = self.source_reference(case)
            if source.path is not None:
                from harness.validate import quality

                # A comparison that fails here (a wrong frame size, already a problem) leaves
                # the figures unknown: validity is the mode's business.
                with contextlib.suppress(Exception):
                    measured = quality(output, source.path)
                    report.psnr, report.ssim = measured.psnr, measured.ssim
        return report

    def _check(self, case: Case, job: RenderJob, output: Path) -> ValidationReport:
        expect = self.expectation(case, job, output)
        if isinstance(expect, str):
            return ValidationReport(output, None, [f"cannot be validated: {expect}"])
        if case.mode in {"index", "none"}:
            return validate(output, expect, mode=case.mode)
        if case.encoder.is_lossless:
            if case.is_reference:
                return validate(output, expect, mode="none")
            ref = self.reference_output(case)
            if ref.path is None:
                return _unverifiable(validate(output, expect, mode="none"), ref.error)
            return validate(output, expect, reference=ref.path, mode="exact")
        source = self.source_reference(case)
        if source.path is None:
            return _unverifiable(validate(output, expect, mode="none"), source.error)
        if case.is_reference:
            # Against itself: checks the structure and measures the PSNR others must match.
            return validate(output, expect, reference=output, mode="quality", source_reference=source.path)
        ref = self.reference_output(case)
        if ref.path is None:
            return _unverifiable(validate(output, expect, mode="none"), ref.error)
        return validate(
            output, expect, mode="quality", source_reference=source.path,
            reference=ref.path, reference_psnr=ref.psnr,
        )  # fmt: skip

    def cleanup(self) -> None:
        """Delete every reference made this session (outputs of failed cases stay for a look)."""
        for made in [*self._outputs.values(), *self._sources.values()]:
            if made.path is not None:
                with contextlib.suppress(OSError):
                    made.path.unlink(missing_ok=True)
        self._outputs.clear()
        self._sources.clear()


def _unverifiable(report: ValidationReport, why: str | None) -> ValidationReport:
    report.problems.append(f"fidelity not checked: {why or 'no reference'}")
    return report

