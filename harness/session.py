"""The renderbench session: built once per pytest run, registered as a plugin, owns the state.

It turns options into :class:`~harness.options.Settings`, generates the cases of each test that
asks for ``renderbench_case`` (one test item per round, :mod:`harness.rounds`), orders them
(interleaved rounds, each group's reference first), runs them (through
:class:`~harness.runner.CaseRunner`), and at the end fills in speedups and folds the rounds
into one pytest-benchmark entry per case (before pytest-benchmark writes its JSON), gives the
fps gates' verdicts (:mod:`harness.verdicts`), writes the Markdown report and plots, and
prints the table.
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

from harness import matrix, report, verdicts
from harness import rounds as round_items
from harness.encode_limit import EncodeLimits
from harness.gate import compare_lines, machine_differences
from harness.live import Planned, RoundOutcome
from harness.matrix import Case
from harness.options import Settings
from harness.plot import write_report
from harness.references import References
from harness.results import ResultsError, Run, fill_speedups, latest_saved, load_run
from harness.runner import CaseRunner, Round, raise_if_invalid
from harness.validate import ValidationReport
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
        self.round_of: dict[tuple[str, str], int] = {}  # (test, param) -> round number
        self._plan: list[Planned] = []
        self._last_round: dict[str, int] = {}  # case id -> the last round this session runs
        self._rounds: dict[str, list[Round]] = {}
        self._reports: dict[str, list[ValidationReport]] = {}
        self._bench_entries: dict[str, list[Any]] = {}  # case id -> pytest-benchmark's entry per round
        self._names: dict[str, str] = {}  # case id -> the node id its pytest-benchmark entry keeps
        self._outcomes: dict[str, RoundOutcome] = {}  # node id -> what its round measured
        self._group_reference: dict[tuple[str, str, str], str] = {}  # group -> its reference case's id
        self.verdicts: list[verdicts.Verdict] = []
        self.regressions: list[verdicts.Verdict] = []  # the verdicts that fail the session
        self.notes: list[str] = []
        self.written: list[Path] = []
        self._workdir: Path | None = None
        self.references = References(self.workdir, self.renderers.get)
        self.limit_workloads: set[tuple[str, str]] = set()  # (workload, preset) with cheap frames
        self.limits = EncodeLimits(
            self.workdir, settings.rounds, lambda case: (case.workload, case.preset) in self.limit_workloads
        )
        self.runner = CaseRunner(
            self.references, self.renderers.get, self.workdir, self.invalid_dir, machine_facts,
            encode_limit=self.limits.for_case, warmup=settings.warmup,
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
            marks = [pytest.mark.skip(reason=case.skip)] if case.skip else []
            for number in range(1, 2 if case.skip else self.settings.rounds + 1):
                param = round_items.round_id(case.id, number)
                self.cases[(metafunc.definition.nodeid, param)] = case
                self.round_of[(metafunc.definition.nodeid, param)] = number
                params.append(pytest.param(param, id=param, marks=marks))
        metafunc.parametrize("renderbench_case", params, indirect=True)

    def case_for(self, item_nodeid: str, case_id: str) -> Case:
        return self.cases[(item_nodeid.split("[", 1)[0], case_id)]

    def _key(self, item: pytest.Item) -> tuple[str, str] | None:
        callspec = getattr(item, "callspec", None)
        if callspec is None or "renderbench_case" not in callspec.params:
            return None
        return (item.nodeid.split("[", 1)[0], str(callspec.params["renderbench_case"]))

    def _case_of(self, item: pytest.Item) -> Case | None:
        key = self._key(item)
        return None if key is None else self.cases.get(key)

    def _round_number(self, item: pytest.Item) -> int:
        key = self._key(item)
        return 1 if key is None else self.round_of.get(key, 1)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # Within the slots renderbench items already hold: each workload x encoder together,
        # its reference case first (other outputs are validated against the reference's, and
        # speedups divide by its fps), rounds interleaved unless asked otherwise.
        slots = [i for i, item in enumerate(items) if self._case_of(item) is not None]
        keys = []
        for i in slots:
            case = self._case_of(items[i])
            assert case is not None
            keys.append(round_items.Slot(case.group, case.is_reference, self._round_number(items[i])))
        ordered = [items[slots[j]] for j in round_items.schedule(keys, self.settings.interleave)]
        for slot, item in zip(slots, ordered, strict=True):
            items[slot] = item

    @pytest.hookimpl(tryfirst=True)  # before the live reporter asks for the plan
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The rounds that will run, in order (after deselection): the last round of each case."""
        chosen: list[tuple[pytest.Item, Case, int]] = []
        for item in session.items:
            case = self._case_of(item)
            if case is None or case.skip:
                continue
            number = self._round_number(item)
            self._last_round[case.id] = max(self._last_round.get(case.id, 0), number)
            chosen.append((item, case, number))
        self._plan = [
            Planned(item.nodeid, case.id, case.renderer, " ".join(case.group), number, self._last_round[case.id])
            for item, case, number in chosen
        ]

    # -- what the live reporter reads (harness.live.RoundSource) -------------------------------

    def planned(self) -> list[Planned]:
        return self._plan

    def outcome(self, nodeid: str) -> RoundOutcome | None:
        return self._outcomes.get(nodeid)

    # -- running -----------------------------------------------------------------------------

    def run(self, case: Case, benchmark: Any, item: pytest.Item) -> Row:
        """Run the round of ``case`` that ``item`` stands for; the case's row from its rounds so far."""
        number = self._round_number(item)
        if case.id in self.failures:
            pytest.skip(f"an earlier round of {case.id} failed")
        try:
            measured, checked = self.runner.run_round(case, number, benchmark)
        except Exception as exc:
            self.failures[case.id] = f"{type(exc).__name__}: {exc}"
            self.rows.pop(case.id, None)
            raise
        if case.is_reference:
            self._group_reference[case.group] = case.id
        rounds = self._rounds.setdefault(case.id, [])
        rounds.append(measured)
        reports = self._reports.setdefault(case.id, [])
        reports.append(checked)
        if getattr(benchmark, "stats", None) is not None:  # None under --benchmark-disable
            self._bench_entries.setdefault(case.id, []).append(benchmark.stats)
        final = number >= self._last_round.get(case.id, number)
        row = self.runner.summary(case, rounds, reports, self.reference_fps.get(case.group), final)
        row = replace(row, name=self._names.setdefault(case.id, item.nodeid))
        # The first round's pytest-benchmark dict is the case's (the later rounds' entries are
        # folded into it), and speedups filled in at the end land in its JSON.
        self.infos.setdefault(case.id, benchmark.extra_info).update(row.extra_info())
        self.rows[case.id] = row
        if case.is_reference and row.valid and row.fps > 0:
            self.reference_fps[case.group] = row.fps
        self._outcomes[item.nodeid] = self._round_outcome(case, measured, checked, number)
        raise_if_invalid(case, checked, number, self._last_round.get(case.id, number))
        return row

    def _round_outcome(self, case: Case, measured: Round, checked: ValidationReport, number: int) -> RoundOutcome:
        speedup: float | None = None
        if not case.is_reference:
            same_round = self._rounds.get(self._group_reference.get(case.group, ""), [])
            if len(same_round) >= number and same_round[number - 1].fps > 0:
                speedup = measured.fps / same_round[number - 1].fps
            elif self.reference_fps.get(case.group):
                speedup = measured.fps / self.reference_fps[case.group]
        return RoundOutcome(
            fps=measured.fps, speedup=speedup, valid=checked.ok, problems=len(checked.problems),
            wall=measured.usage.wall, is_reference=case.is_reference,
        )  # fmt: skip

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

    @property
    def _rounds_words(self) -> str:
        s = self.settings
        words = "1 round" if s.rounds == 1 else f"{s.rounds} {'interleaved' if s.interleave else 'back-to-back'} rounds"
        return words if not s.warmup else f"{words} after {s.warmup} warm-up render{'s' if s.warmup > 1 else ''}"

    def _gate_headings(self) -> tuple[str | None, str | None]:
        s = self.settings
        speedup = drop = None
        if s.min_speedup:
            rules = ", ".join(str(r) for r in s.min_speedup)
            speedup = (
                f"min speedup ({rules}): {100 * s.confidence:g} % confidence intervals of the speedups "
                f"paired by round, {self._rounds_words}"
            )
        if s.max_fps_drop is not None and self.previous is not None:
            drop = (
                f"max fps drop {s.max_fps_drop:g} % vs {self.previous.path}: a larger drop fails when "
                f"significant at {s.significance:g} (Mann-Whitney U over the rounds of both runs)"
            )
        return speedup, drop

    def gate_lines(self) -> list[str]:
        """The gates' headings and verdicts, for the report."""
        speedup, drop = self._gate_headings()
        lines: list[str] = []
        for heading, gate in ((speedup, "min-speedup"), (drop, "max-fps-drop")):
            if heading is None:
                continue
            found = [v for v in self.verdicts if v.gate == gate]
            failing = [v for v in self.regressions if v.gate == gate]
            lines.append(f"{heading}: " + ("FAILED" if failing else "passed"))
            lines += [str(v) for v in found]
        return lines

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Any:
        # Before pytest-benchmark's own sessionfinish, which writes the JSON files.
        round_items.fold_benchmark_stats(self._bench_entries)
        if self.rows or self.failures:
            self._finish(session)
        return (yield)

    def _finish(self, session: pytest.Session) -> None:
        self.notes += [e for e in self.limits.errors if e not in self.notes]
        rows = self._finish_rows()
        s = self.settings
        self.verdicts = verdicts.speedup_verdicts(rows, s.min_speedup, s.confidence) if s.min_speedup else []
        if self.previous is not None:
            differs = machine_differences(machine_facts(), self.previous.machine)
            if differs:
                self.notes.append("the saved run is from another machine: " + "; ".join(differs))
            if s.max_fps_drop is not None:
                self.verdicts += verdicts.fps_drop_verdicts(rows, self.previous.rows, s.max_fps_drop, s.significance)
        self.regressions = verdicts.counted_as_failures(self.verdicts, s.inconclusive_fails)
        if self.regressions and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        self._write(rows)

    @pytest.hookimpl(optionalhook=True)
    def pytest_benchmark_update_json(self, config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
        """The session's verdicts and round plan beside pytest-benchmark's results."""
        s = self.settings
        references = {row.group: row for row in self.rows.values() if row.is_reference}
        paired = {
            case_id: verdicts.paired_speedups(row, references[row.group])
            for case_id, row in self.rows.items()
            if row.group in references and not row.is_reference
        }
        output_json["renderbench"] = {
            "rounds": s.rounds,
            "warmup": s.warmup,
            "interleaved": s.interleave and s.rounds > 1,
            "significance": s.significance,
            "inconclusive": "fail" if s.inconclusive_fails else "pass",
            "paired_speedups": paired,
            "verdicts": [v.as_dict() for v in self.verdicts],
        }

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
        extra += ["clip object: " + line for line in report.object_lines(rows)]
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
            for line in compare_lines(rows, self.previous.rows):
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
        speedup, drop = self._gate_headings()
        if speedup or drop:
            self._write_verdicts(write, speedup, drop)
        if self.written:
            write("")
            write(f"report: {self.written[0]}  ({len(self.written) - 1} plots in {self.written[0].parent / 'plots'})")

    def _write_verdicts(self, write: Any, speedup: str | None, drop: str | None) -> None:
        s = self.settings
        tables = (
            (speedup, "min-speedup", lambda found: verdicts.speedup_table(found, s.confidence)),
            (drop, "max-fps-drop", verdicts.fps_drop_table),
        )
        for heading, gate, table in tables:
            found = [v for v in self.verdicts if v.gate == gate]
            if heading is None or not found:
                continue
            write("")
            write(heading + ":")
            for line in table(found):
                write("  " + line)
        write("")
        undecided = [v for v in self.verdicts if v.outcome is verdicts.Outcome.INCONCLUSIVE]
        policy = f"--renderbench-inconclusive={'fail' if s.inconclusive_fails else 'pass'}"
        if self.regressions:
            write(f"renderbench fps gate FAILED, {len(self.regressions)} regression(s):", red=True, bold=True)
            for verdict in self.regressions:
                write(f"  - {verdict}", red=True)
            if undecided and s.inconclusive_fails:
                write(f"inconclusive verdicts count as failures ({policy})", yellow=True)
        else:
            write("renderbench fps gate passed", green=True)
            for verdict in undecided:
                write(f"  - {verdict} (counted as a pass: {policy})", yellow=True)

    def pytest_report_header(self, config: pytest.Config) -> str:
        s = self.settings
        return (
            f"renderbench: preset {s.preset}, {self._rounds_words}, workers {','.join(map(str, s.workers))}, "
            f"encoders {','.join(e.label for e in s.encoders)}, results in {s.results_dir}"
        )
