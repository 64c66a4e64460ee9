"""The renderbench session: built once per pytest run, registered as a plugin, owns the state.

It turns options into :class:`~harness.options.Settings`, generates the cases of each test that
asks for ``renderbench_case``, runs them (through :class:`~harness.runner.CaseRunner`), and at
the end fills in speedups (before pytest-benchmark writes its JSON), applies the fps gates,
writes the Markdown report and plots, and prints the table.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from datetime import datetime, timezone
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness import gate, matrix, report
from harness.encode_limit import EncodeLimits
from harness.matrix import Case
from harness.options import Settings
from harness.plot import write_report
from harness.references import References
from harness.results import ResultsError, Run, fill_speedups, latest_saved, load_run
from harness.runner import CaseRunner, raise_if_invalid
from harness.workloads import presets
from harness.workloads.presets import Workload
from impls.machine import machine_facts
from impls.model.protocol import ClipSource, EncoderSpec, Renderer, Source
from impls.model.results import Row
from impls.registry import RENDERERS
from impls.runtime.executor import unavailable_reason

#: Share of wall time the measurement itself may take before the summary says so.
OVERHEAD_LIMIT = 0.02

MARKER_KEYWORDS = frozenset(
    {"source", "workload", "mode", "renderers", "workers", "encoders", "workloads", "reference", "encode_limit"}
)

#: Validation of a user's source: auto (exact with a lossless encoder, else quality against a
#: lossless source render), index (frames carry their index, like frame_index), none (structure).
USER_MODES = ("auto", "index", "none")

XDIST_REASON = (
    "renderbench does not time cases under pytest-xdist: parallel tests compete for the cores "
    "being measured (run without -n)"
)


def _listed(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    return tuple(str(v) for v in value)


class RenderbenchSession:
    """State of one pytest run (see the module docstring). Hooks are methods, registered as a plugin."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.xdist = config.getoption("dist", "no") not in (None, "no") or bool(os.environ.get("PYTEST_XDIST_WORKER"))
        self.cases: dict[tuple[str, str], Case] = {}
        self.renderers: dict[str, Renderer] = {}
        self.broken: dict[str, str] = {}
        self.infos: dict[str, dict[str, Any]] = {}  # case id -> the dict pytest-benchmark saves
        self.rows: dict[str, Row] = {}
        self.failures: dict[str, str] = {}
        self.reference_fps: dict[tuple[str, str, str], float] = {}
        self.regressions: list[gate.Regression] = []
        self._speedup_found: list[gate.Regression] = []
        self._drop_found: list[gate.Regression] = []
        self.notes: list[str] = []
        self.written: list[Path] = []
        self._workdir: Path | None = None
        self.references = References(self.workdir, self.renderers.get)
        self.limit_workloads: set[tuple[str, str]] = set()  # (workload, preset) with cheap frames
        self.limits = EncodeLimits(
            self.workdir, settings.rounds, lambda case: (case.workload, case.preset) in self.limit_workloads
        )
        self.runner = CaseRunner(
            self.references, self.renderers.get, self.workdir, self.invalid_dir, settings.rounds, machine_facts,
            encode_limit=self.limits.for_case,
        )  # fmt: skip
        self.previous: Run | None = None
        self._load_previous()

    # -- setup -------------------------------------------------------------------------------

    def _load_previous(self) -> None:
        """The saved run for the fps-drop gate, read now: autosave writes this run's file later."""
        wanted = self.settings.compare
        if wanted is None and self.settings.max_fps_drop is None:
            return
        if wanted is None or wanted == "latest":
            storage = str(self.config.getoption("benchmark_storage", "file://./.benchmarks") or "")
            if not storage.startswith("file://"):
                raise pytest.UsageError(f"--renderbench-compare latest needs a file:// --benchmark-storage, not {storage!r}")
            from pytest_benchmark import utils as benchmark_utils

            # The folder pytest-benchmark autosaves into, e.g. Linux-CPython-3.11-64bit.
            machine_id = str(getattr(benchmark_utils, "get_machine_id")())
            path = latest_saved(Path(storage.removeprefix("file://")), machine_id)
            if path is None:
                self.notes.append(f"no saved run in {storage} to compare with: the fps-drop gate was not applied")
                return
        else:
            path = Path(wanted)
        try:
            self.previous = load_run(path)
        except ResultsError as exc:
            raise pytest.UsageError(f"--renderbench-compare: {exc}") from None

    def workdir(self) -> Path:
        """This session's scratch folder (outputs, references, generated inputs), removed at the end."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="renderbench-"))
        return self._workdir

    def invalid_dir(self) -> Path:
        """Where invalid outputs are kept for a look (the scratch folder is removed)."""
        path = self.settings.results_dir / "invalid"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def pytest_unconfigure(self) -> None:
        self.references.cleanup()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    # -- collection --------------------------------------------------------------------------

    def _workloads(self, marker: pytest.Mark | None, function_name: str) -> list[Workload]:
        kwargs = marker.kwargs if marker is not None else {}
        source: Source | str | None = kwargs.get("source")
        if source is not None:
            if isinstance(source, str):
                source = ClipSource(source)
            name = str(kwargs.get("workload") or function_name.removeprefix("test_"))
            mode = str(kwargs.get("mode", "auto"))
            if mode not in USER_MODES:
                raise pytest.UsageError(f"renderbench marker: mode {mode!r} is not one of {', '.join(USER_MODES)}")
            # encode_limit=True: the user's frames are cheap too, time ffmpeg encoding them alone.
            loads = [Workload(name, "custom", source, mode, encode_limit=bool(kwargs.get("encode_limit", False)))]
        else:
            names = _listed(kwargs.get("workloads")) or self.settings.workloads
            try:
                loads = [presets.workload(name, self.settings.preset, self.workdir) for name in names]
            except KeyError as exc:
                raise pytest.UsageError(str(exc.args[0])) from None
        self.limit_workloads.update((w.name, w.preset) for w in loads if w.encode_limit)
        return loads

    def generate(self, metafunc: pytest.Metafunc) -> None:
        """Parametrise ``renderbench_case`` with the matrix (options, or the marker's overrides)."""
        marker = metafunc.definition.get_closest_marker("renderbench")
        kwargs = marker.kwargs if marker is not None else {}
        unknown = set(kwargs) - MARKER_KEYWORDS
        if unknown:
            raise pytest.UsageError(
                f"{metafunc.definition.nodeid}: renderbench marker has no keyword(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(MARKER_KEYWORDS))}"
            )
        names = _listed(kwargs.get("renderers"))
        if names is None:
            names = self.settings.renderers
        reference = kwargs.get("reference")
        if names is not None and reference is not None and reference not in names:
            names = (reference, *names)
        try:
            loaded, broken = matrix.load_renderers(names, RENDERERS)
        except KeyError as exc:
            raise pytest.UsageError(str(exc.args[0])) from None
        self.renderers.update(loaded)
        self.broken.update(broken)
        workers = self.settings.workers
        if "workers" in kwargs:
            workers = tuple(sorted({int(w) for w in kwargs["workers"]}))
        encoders: Sequence[EncoderSpec] = self.settings.encoders
        if "encoders" in kwargs and not self.settings.lossless:
            encoders = [e if isinstance(e, EncoderSpec) else EncoderSpec.parse(e) for e in _listed(kwargs["encoders"]) or ()]
        cases = matrix.generate(
            loaded, broken, self._workloads(marker, metafunc.definition.name), workers, encoders,
            self.settings.executors, encoder_problem=matrix.encoder_problem,
            executor_problem=unavailable_reason, reference=reference,
        )  # fmt: skip
        params = []
        for case in cases:
            self.cases[(metafunc.definition.nodeid, case.id)] = case
            marks = [pytest.mark.skip(reason=case.skip)] if case.skip else []
            params.append(pytest.param(case.id, id=case.id, marks=marks))
        metafunc.parametrize("renderbench_case", params, indirect=True)

    def case_for(self, item_nodeid: str, case_id: str) -> Case:
        return self.cases[(item_nodeid.split("[", 1)[0], case_id)]

    def _case_of(self, item: pytest.Item) -> Case | None:
        callspec = getattr(item, "callspec", None)
        if callspec is None or "renderbench_case" not in callspec.params:
            return None
        return self.cases.get((item.nodeid.split("[", 1)[0], callspec.params["renderbench_case"]))

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # Within the slots renderbench items already hold: each workload x encoder together,
        # its reference case first (other outputs are validated against the reference's, and
        # speedups divide by its fps).
        slots = [i for i, item in enumerate(items) if self._case_of(item) is not None]
        first_seen: dict[tuple[str, str, str], int] = {}
        for i in slots:
            case = self._case_of(items[i])
            assert case is not None
            first_seen.setdefault(case.group, i)

        def key(item: pytest.Item) -> tuple[int, bool]:
            case = self._case_of(item)
            assert case is not None
            return (first_seen[case.group], not case.is_reference)

        ordered = sorted((items[i] for i in slots), key=key)
        for slot, item in zip(slots, ordered, strict=True):
            items[slot] = item

    # -- running -----------------------------------------------------------------------------

    def run(self, case: Case, benchmark: Any, nodeid: str) -> Row:
        try:
            row = self.runner.run(case, benchmark, lambda c: self.reference_fps.get(c.group))
        except Exception as exc:
            self.failures[case.id] = f"{type(exc).__name__}: {exc}"
            raise
        row = replace(row, name=nodeid)
        benchmark.extra_info.update(row.extra_info())
        # Keep pytest-benchmark's own dict: speedups filled in at the end land in its JSON.
        self.infos[case.id] = benchmark.extra_info
        self.rows[case.id] = row
        if case.is_reference and row.valid and row.fps > 0:
            self.reference_fps[case.group] = row.fps
        raise_if_invalid(case, row)
        return row

    # -- the end -----------------------------------------------------------------------------

    def _finish_rows(self) -> list[Row]:
        rows = fill_speedups(self.rows.values())
        for index, row in enumerate(rows):
            limit = self.limits.limit(row.group)
            if limit is not None and limit.fps > 0:
                # Every sample of the session, including those taken after later cases.
                row = rows[index] = replace(row, encode_limit_fps=limit.fps, encode_limit_fraction=row.fps / limit.fps)
            if row.case_id in self.infos:
                self.infos[row.case_id].update(row.extra_info())
            self.rows[row.case_id] = row
        return rows

    def gate_lines(self) -> list[str]:
        lines: list[str] = []
        if self.settings.min_speedup:
            rules = ", ".join(str(r) for r in self.settings.min_speedup)
            lines.append(f"min speedup ({rules}): " + ("FAILED" if self._speedup_found else "passed"))
        if self.settings.max_fps_drop is not None and self.previous is not None:
            lines.append(
                f"max fps drop {self.settings.max_fps_drop:g} % vs {self.previous.path}: "
                + ("FAILED" if self._drop_found else "passed")
            )
        lines += [str(r) for r in self.regressions]
        return lines

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Any:
        # Before pytest-benchmark's own sessionfinish, which writes the JSON files.
        if self.rows or self.failures:
            self._finish(session)
        return (yield)

    def _finish(self, session: pytest.Session) -> None:
        self.notes += [e for e in self.limits.errors if e not in self.notes]
        rows = self._finish_rows()
        self._speedup_found = gate.check_min_speedup(rows, self.settings.min_speedup)
        self._drop_found = []
        if self.previous is not None:
            differs = gate.machine_differences(machine_facts(), self.previous.machine)
            if differs:
                self.notes.append("the saved run is from another machine: " + "; ".join(differs))
            if self.settings.max_fps_drop is not None:
                self._drop_found = gate.check_fps_drop(rows, self.previous.rows, self.settings.max_fps_drop)
        self.regressions = self._speedup_found + self._drop_found
        if self.regressions and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        self._write(rows)

    def _write(self, rows: list[Row]) -> None:
        out = self.settings.results_dir
        try:
            self.written = write_report(
                rows, out, machine_facts(), datetime.now(timezone.utc).isoformat(timespec="seconds"),
                plots=bool(rows), gate_lines=self.gate_lines(), failures=self.failures,
            )  # fmt: skip
        except OSError as exc:
            self.notes.append(f"could not write the report into {out}: {exc}")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not (self.rows or self.failures or self.broken and self.cases):
            return
        write = terminalreporter.write_line
        terminalreporter.section("renderbench")
        rows = list(self.rows.values())
        for line in report.format_table(rows):
            write(line)
        winners = report.winners(rows)
        if winners:
            write("")
            for winner in winners:
                write("winner " + winner.describe(), bold=True)
        extra = [pick.describe() for pick in report.quality_picks(rows)]
        extra += ["encode-bound limit: " + line for line in report.limit_lines(rows)]
        extra += report.fast_path_lines(rows)
        extra += ["where the CPU goes: " + line for line in report.cpu_lines(rows)]
        if extra:
            write("")
            for line in extra:
                write(line)
        for line in report.problem_lines(rows):
            write(line, red=True)
        for case_id, message in self.failures.items():
            write(f"{case_id}: FAILED {message.splitlines()[0] if message else ''}", red=True)
        for name, reason in self.broken.items():
            write(f"not benchmarked: {reason}", yellow=True)
        if self.previous is not None and rows:
            write("")
            write(f"fps against {self.previous.path}:")
            for line in gate.compare_lines(rows, self.previous.rows):
                write("  " + line)
        costly = [r for r in rows if r.harness_overhead > OVERHEAD_LIMIT]
        if costly:
            worst = max(costly, key=lambda r: r.harness_overhead)
            write(
                f"note: measuring took more than {OVERHEAD_LIMIT:.0%} of wall time in {len(costly)} case(s) "
                f"(worst {worst.harness_overhead:.1%}, {worst.case_id}): renders this short are timed coarsely",
                yellow=True,
            )
        for note in self.notes:
            write(f"note: {note}", yellow=True)
        if self.settings.min_speedup or (self.settings.max_fps_drop is not None and self.previous is not None):
            write("")
            if self.regressions:
                write(f"renderbench fps gate FAILED, {len(self.regressions)} regression(s):", red=True, bold=True)
                for regression in self.regressions:
                    write(f"  - {regression}", red=True)
            else:
                write("renderbench fps gate passed", green=True)
        if self.written:
            write("")
            write(f"report: {self.written[0]}  ({len(self.written) - 1} plots in {self.written[0].parent / 'plots'})")

    def pytest_report_header(self, config: pytest.Config) -> str:
        s = self.settings
        return (
            f"renderbench: preset {s.preset}, rounds {s.rounds}, workers {','.join(map(str, s.workers))}, "
            f"encoders {','.join(e.label for e in s.encoders)}, results in {s.results_dir}"
        )
