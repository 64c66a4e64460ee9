"""What every output of a session is checked against, each made once per session.

- the *reference output* of each workload x encoder: the reference renderer's (``baseline``,
  ``manim-serial``) output of its own case, or, when that case was deselected, a render made
  here on demand (untimed);
- the *source reference* of each workload: a lossless render of the exact source frames, which
  quality-mode validation measures PSNR against (two lossy encodes of the same frames differ
  by ~40 dB, so comparing an output with the lossy reference alone would prove little);
- the *expectation* (frame count, exact rate, size, codec, audio) of each output.

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
from harness.validate import Expectation, ValidationReport, probe_video, validate
from impls.protocol import ClipSource, EncoderSpec, Renderer, RenderJob
from impls.timeline import Timeline

#: Encoder of source references: lossless, and the fastest x264 preset (size does not matter).
SOURCE_ENCODER = EncoderSpec(codec="libx264", preset="ultrafast", crf=0)

_SUFFIX = {"prores_ks": ".mov", "prores": ".mov", "libvpx-vp9": ".mkv", "libvpx": ".mkv"}


def output_suffix(spec: EncoderSpec) -> str:
    """A container that takes this codec and an AAC track (WebM would refuse AAC)."""
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


def clip_facts(source: ClipSource) -> ClipFacts:
    """Frame count, size and audio of a MoviePy source (builds the clip once, renders nothing)."""
    clip = source.load()
    try:
        timeline = Timeline.for_clip(clip)
        width, height = clip.size
        return ClipFacts(timeline, (int(width), int(height)), clip.audio is not None)
    finally:
        clip.close()


class References:
    """The session's references and the validation of each output against them."""

    def __init__(self, workdir: Callable[[], Path], renderers: Callable[[str], Renderer | None]) -> None:
        self._workdir = workdir
        self._renderer = renderers
        self._outputs: dict[tuple[str, str, str], Made] = {}
        self._sources: dict[tuple[str, str], Made] = {}
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

    def record_reference(self, case: Case, path: Path | None, error: str | None = None, psnr: float | None = None) -> None:
        """The reference case itself ran: its (first valid) output is the group's reference."""
        if case.group not in self._outputs or self._outputs[case.group].path is None:
            self._outputs[case.group] = Made(path, error, psnr)

    def reference_output(self, case: Case) -> Made:
        """The reference output of ``case``'s group; rendered now when its case did not run."""
        made = self._outputs.get(case.group)
        if made is None:
            if case.reference is None:
                made = Made(None, "no reference renderer supports this workload")
            else:
                path = self._workdir() / f"reference-{_slug(case.group)}{output_suffix(case.encoder)}"
                made = self._render_untimed(case, case.encoder, path, audio=True)
                if made.path is not None and self._needs_source(case):
                    made.psnr = self._psnr_of(made.path, case)
            self._outputs[case.group] = made
        return made

    def source_reference(self, case: Case) -> Made:
        key = (case.workload, case.preset)
        made = self._sources.get(key)
        if made is None:
            path = self._workdir() / f"source-{case.workload}-{case.preset}.mkv"
            made = self._render_untimed(case, SOURCE_ENCODER, path, audio=False)
            if made.error is not None:
                made.error = f"lossless source reference: {made.error}"
            self._sources[key] = made
        return made

    def _clip(self, case: Case) -> ClipFacts | str:
        key = (case.workload, case.preset)
        if key not in self._clips:
            assert isinstance(case.source, ClipSource)
            try:
                self._clips[key] = clip_facts(case.source)
            except Exception as exc:
                self._clips[key] = f"cannot build the clip: {type(exc).__name__}: {exc}"
        return self._clips[key]

    # -- checking ----------------------------------------------------------------------------

    def expectation(self, case: Case, job: RenderJob, output: Path) -> Expectation | str:
        """What ``output`` must look like, or why that cannot be known."""
        if isinstance(case.source, ClipSource):
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
        """Validate one output of ``case`` (the module docstring says how)."""
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


def _slug(parts: tuple[str, ...]) -> str:
    return "-".join(p.replace(":", "_").replace("/", "_") for p in parts)
