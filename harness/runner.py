"""One round of a case: timed through pytest-benchmark, validated, then the case's row so far.

Each round renders to its own file under ``benchmark.pedantic(rounds=1, iterations=1)``, inside
a :class:`~harness.measure.TreeMonitor`, and its output is validated at once (rounds are
separate test items, see :mod:`harness.rounds`). :func:`summarise` turns the rounds measured
so far into the case's :class:`~impls.model.results.Row`, recorded whatever the verdict; an
invalid output then fails its round's test (:class:`ValidationFailed`), so a fast wrong render is recorded as
invalid and never wins.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.encode_limit import EncodeLimit
from harness.matrix import Case
from harness.measure import TreeMonitor, Usage
from harness.references import References, output_suffix
from harness.results import median, slug
from harness.validate import ValidationReport
from impls.errors import ValidationFailed
from impls.model.protocol import Renderer, RenderJob, RenderResult
from impls.model.results import PSNR_CAP, Row


@dataclass(frozen=True)
class Round:
    output: Path
    job: RenderJob
    result: RenderResult
    usage: Usage

    @property
    def fps(self) -> float:
        return self.result.frames / self.usage.wall if self.usage.wall > 0 else 0.0


def _median_stages(rounds: list[Round]) -> dict[str, float]:
    keys: dict[str, None] = {}
    for r in rounds:
        keys.update(dict.fromkeys(r.result.stages))
    out: dict[str, float] = {}
    for key in keys:
        values = [float(r.result.stages[key]) for r in rounds if key in r.result.stages]
        out[key] = float(statistics.median(values))
    return out


def _median_split(rounds: list[Round]) -> dict[str, float]:
    """CPU-seconds by role, each the median over rounds (empty unless every round has them)."""
    splits = [r.usage.cpu_by_role for r in rounds]
    if not splits or not all(splits):
        return {}
    return {role: median([float(split.get(role, 0.0)) for split in splits]) for role in splits[0]}


def fast_path_state(info: Mapping[str, Any]) -> str | None:
    """What a render's ``info["fast_path"]`` says: "on", "off: <why>", None when it has none."""
    fast = info.get("fast_path")
    if not isinstance(fast, Mapping):
        return None
    if fast.get("enabled"):
        return "on"
    return f"off: {fast.get('reason') or 'no reason given'}"


def _fast_path(rounds: list[Round]) -> str | None:
    """The rounds' fast-path state; where they differ, the first round that had it off."""
    states = [fast_path_state(r.result.info) for r in rounds]
    off = [state for state in states if state is not None and state != "on"]
    if not off or len(off) == len(states):
        return states[0] if states else None
    return f"{off[0]} (in {len(off)} of {len(states)} rounds)"


def _quality(reports: list[ValidationReport]) -> tuple[float | None, float | None, float | None]:
    """Median PSNR (capped: JSON has no inf), SSIM and bitrate over the rounds' outputs."""
    psnrs = [r.psnr for r in reports if r.psnr is not None]
    ssims = [r.ssim for r in reports if r.ssim is not None]
    bitrates = [r.facts.bitrate for r in reports if r.facts is not None and r.facts.bitrate is not None]
    psnr = min(float(statistics.median(psnrs)), PSNR_CAP) if psnrs else None
    return psnr, (median(ssims) if ssims else None), (median(bitrates) if bitrates else None)


def summarise(
    case: Case,
    rounds: list[Round],
    reports: list[ValidationReport],
    reference_fps: float | None,
    machine: dict[str, Any],
    limit: EncodeLimit | None = None,
) -> Row:
    """The case's row from its rounds, validation reports and encode-bound limit."""
    problems: list[str] = []
    for report in reports:
        for problem in report.problems:
            if problem not in problems:
                problems.append(problem)
    fps_all = [r.fps for r in rounds]
    fps = median(fps_all)
    if case.is_reference:
        speedup: float | None = 1.0
    else:
        speedup = None if not reference_fps else fps / reference_fps
    psnr, ssim, bitrate = _quality(reports)
    limit_fps = limit.fps if limit is not None and limit.fps > 0 else None
    return Row(
        renderer=case.renderer, workers=case.workers, encoder=case.encoder.label,
        workload=case.workload, preset=case.preset, executor=case.executor, reference=case.reference,
        frames=rounds[0].result.frames, fps=fps, fps_all=tuple(fps_all), speedup=speedup,
        cpu_util=median([r.usage.cpu_util for r in rounds]),
        cpu_seconds=median([r.usage.cpu_seconds for r in rounds]),
        peak_rss=max(r.usage.peak_rss for r in rounds),
        wall=median([r.usage.wall for r in rounds]),
        harness_overhead=max(r.usage.overhead_fraction for r in rounds),
        stages=_median_stages(rounds), valid=not problems, problems=tuple(problems), machine=machine,
        psnr=psnr, ssim=ssim, bitrate=bitrate, encode_limit_fps=limit_fps,
        encode_limit_fraction=None if limit_fps is None else fps / limit_fps,
        cpu_split=_median_split(rounds), fast_path=_fast_path(rounds),
    )  # fmt: skip


@dataclass
class CaseRunner:
    """Runs rounds of cases for one session; the ``render_and_measure`` fixture calls :meth:`run_round`.

    ``renderer``, ``workdir``, ``invalid_dir``, ``machine`` and ``encode_limit`` are asked when
    a round runs (the session fills its renderers and folders in as it goes).
    """

    references: References
    renderer: Callable[[str], Renderer | None]
    workdir: Callable[[], Path]
    invalid_dir: Callable[[], Path]
    machine: Callable[[], dict[str, Any]]
    encode_limit: Callable[[Case], EncodeLimit | None] = lambda case: None
    warmup: int = 0  # untimed renders before a case's first round

    def _job(self, case: Case, output: Path) -> RenderJob:
        assert case.source is not None
        return RenderJob(
            source=case.source, output=output, workers=case.workers, encoder=case.encoder,
            executor=case.executor,
        )  # fmt: skip

    def run_round(self, case: Case, number: int, benchmark: Any) -> tuple[Round, ValidationReport]:
        """Time round ``number`` of ``case`` and validate its output; ``benchmark`` is pytest-benchmark's fixture.

        Round 1 is preceded by ``warmup`` untimed renders of the case, their outputs discarded.
        Render errors propagate (the test errors; for a reference case without a valid output
        yet, the reference is marked failed). The first valid output of a reference case
        becomes its group's reference output; other valid outputs are deleted at once
        (full-HD files add up), invalid ones are moved to the invalid folder for a look.
        """
        renderer = self.renderer(case.renderer)
        if renderer is None or case.source is None:
            raise LookupError(f"renderer {case.renderer!r} or the source of {case.id} is not available")
        path = self.workdir() / f"{slug(case.id)}-round{number}{output_suffix(case.encoder)}"
        done: list[Round] = []

        def setup() -> tuple[tuple[Path], dict[str, Any]]:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            return (path,), {}

        def render(output: Path) -> None:
            job = self._job(case, output)
            monitor = TreeMonitor()
            with monitor:
                result = renderer.render(job)
            assert monitor.usage is not None
            done.append(Round(output, job, result, monitor.usage))

        try:
            if number == 1:
                # What a process pays once (imports, the workers' forkserver, cached inputs)
                # would otherwise land in round 1 of whichever case comes first.
                for _ in range(self.warmup):
                    renderer.render(self._job(case, path))
            benchmark.pedantic(render, setup=setup, rounds=1, iterations=1)
        except Exception as exc:
            if case.is_reference:
                self.references.record_reference(case, None, f"{case.renderer} failed: {type(exc).__name__}: {exc}")
            raise
        (measured,) = done
        report = self.references.check(case, measured.job, measured.output)
        kept = False
        if case.is_reference:
            if report.ok:
                kept = self.references.record_reference(case, measured.output, psnr=report.psnr)
            else:
                self.references.record_reference(case, None, f"{case.renderer}'s output is invalid")
        if not kept:
            if report.ok:
                with contextlib.suppress(OSError):
                    measured.output.unlink(missing_ok=True)
            elif measured.output.exists():  # kept for a look, outside the scratch folder
                keep = self.invalid_dir() / measured.output.name
                shutil.move(measured.output, keep)
                report.problems.append(f"the invalid output is kept as {keep}")
        return measured, report

    def summary(
        self, case: Case, rounds: list[Round], reports: list[ValidationReport], reference_fps: float | None, final: bool
    ) -> Row:
        """The case's row from its rounds so far; ``final`` after its last round.

        The encode-bound limit is sampled after a case's last round only, never while a case
        is being timed: the limit's own encode would compete.
        """
        limit = self.encode_limit(case) if final else None
        return summarise(case, rounds, reports, reference_fps, self.machine(), limit)


def raise_if_invalid(case: Case, report: ValidationReport, number: int, rounds: int) -> None:
    """Fail the round's test when its output is invalid."""
    if not report.ok:
        which = f"{case.id} output" if rounds == 1 else f"{case.id} round {number} output"
        raise ValidationFailed(which, report.problems)
