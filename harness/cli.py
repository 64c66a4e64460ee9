"""renderbench: run the benchmark, re-draw its report from saved JSON, compare two runs.

    renderbench run [--preset full] [--workers 1,2] [...] [-- PYTEST ARGS]
    renderbench report [JSON ...] [--results-dir DIR] [--no-plots]
    renderbench compare BEFORE.json AFTER.json [--max-fps-drop PERCENT] [--significance ALPHA]
    renderbench history [STORAGE ...] -o DIR

``run`` is pytest on the packaged benchmark (:mod:`harness.suite`) with the plugin's options,
``--benchmark-json DIR/benchmark.json`` and ``--benchmark-autosave`` into ``DIR/history``; its
exit status is pytest's (non-zero when a case failed or an fps gate did). ``report`` and
``compare`` exit 2 when a file cannot be read, ``compare`` 1 when fps dropped too far (a
significant drop, or an inconclusive one unless ``--inconclusive pass``).
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.options import (
    VERDICT_OPTIONS,
    OptionError,
    add_gate_options,
    add_matrix_options,
    add_specs,
    forward_args,
    parse_inconclusive,
    parse_significance,
)

#: Modules that add a subcommand: each has ``add_parser(subparsers)``, which calls
#: ``subparsers.add_parser(name, ...)`` and ``set_defaults(func=handler)`` with
#: ``handler(args) -> int``. To add a command, add its module here (one line).
COMMAND_MODULES: tuple[str, ...] = (
    "harness.render_cli", "harness.exec_cli", "harness.manim_cli", "harness.history",
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def suite_path() -> Path:
    """The packaged benchmark module that ``run`` executes."""
    from harness import suite

    return Path(suite.__file__)


def pytest_args(args: argparse.Namespace) -> list[str]:
    """The pytest command line of ``renderbench run`` (without the leading ``pytest``)."""
    results = Path(args.results_dir)
    extra = list(args.pytest_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    return [
        str(suite_path()),
        # The module may live in site-packages: keep pytest's cache out of it.
        "-p", "no:cacheprovider",
        "-ra",
        f"--renderbench-results-dir={results}",
        f"--benchmark-json={results / 'benchmark.json'}",
        "--benchmark-autosave",
        f"--benchmark-storage=file://{results / 'history'}",
        *forward_args(vars(args)),
        *extra,
    ]  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import pytest

    argv = pytest_args(args)
    Path(args.results_dir).mkdir(parents=True, exist_ok=True)
    print("renderbench run: pytest " + shlex.join(argv), file=sys.stderr, flush=True)
    return int(pytest.main(argv))


def _load(paths: Sequence[Path]) -> list[Any]:
    from harness.results import load_run

    return [load_run(p) for p in paths]


def report(args: argparse.Namespace) -> int:
    from harness import report as text
    from harness.plot import write_report
    from harness.results import ResultsError, fill_speedups

    paths = [Path(p) for p in args.json] or [Path(args.results_dir or "results") / "benchmark.json"]
    try:
        runs = _load(paths)
    except ResultsError as exc:
        print(f"renderbench report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rows = fill_speedups(row for run in runs for row in run.rows)
    if not rows:
        print(f"renderbench report: no renderbench cases in {', '.join(map(str, paths))}", file=sys.stderr)
        return EXIT_USAGE
    for line in text.format_table(rows):
        print(line)
    for winner in text.winners(rows):
        print("winner " + winner.describe())
    for pick in text.quality_picks(rows):
        print(pick.describe())
    for line in text.limit_lines(rows):
        print("encode-bound limit: " + line)
    for line in text.fast_path_lines(rows):
        print(line)
    for line in text.cpu_lines(rows):
        print("where the CPU goes: " + line)
    for line in text.object_lines(rows):
        print("clip object: " + line)
    for line in text.problem_lines(rows):
        print(line)
    out = Path(args.results_dir) if args.results_dir else paths[0].parent
    written = write_report(rows, out, runs[0].machine or {}, runs[0].datetime, plots=not args.no_plots)
    plots = f"  ({len(written) - 1} plots in {out / 'plots'})" if len(written) > 1 else ""
    print(f"report: {written[0]}{plots}")
    return EXIT_OK


VERDICT_SPECS = {spec.name: spec for spec in VERDICT_OPTIONS}


def compare(args: argparse.Namespace) -> int:
    from harness import gate, verdicts
    from harness.results import ResultsError

    try:
        alpha = parse_significance(args.significance or VERDICT_SPECS["significance"].default or "")
        inconclusive_fails = parse_inconclusive(args.inconclusive or VERDICT_SPECS["inconclusive"].default or "")
        before, after = _load([Path(args.before), Path(args.after)])
    except (ResultsError, OptionError) as exc:
        print(f"renderbench compare: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for line in gate.compare_lines(after.rows, before.rows):
        print(line)
    for difference in gate.machine_differences(after.machine, before.machine):
        print(f"note: different machines - {difference}")
    if args.max_fps_drop is None:
        return EXIT_OK
    found = verdicts.fps_drop_verdicts(after.rows, before.rows, args.max_fps_drop, alpha)
    print("")
    for line in verdicts.fps_drop_table(found):
        print(line)
    failing = verdicts.counted_as_failures(found, inconclusive_fails)
    if failing:
        print(f"fps dropped more than {args.max_fps_drop:g} % (or may have) in {len(failing)} case(s):")
        for verdict in failing:
            print(f"  - {verdict}")
        return EXIT_FAILED
    print(f"no case lost more than {args.max_fps_drop:g} % fps")
    return EXIT_OK


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage") from None
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"{value:g} must be between 0 and 100")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="renderbench", description=(__doc__ or "").split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run_parser = commands.add_parser(
        "run", help="run the benchmark (what `make bench` does)",
        description="Run the packaged benchmark through pytest; options not given take the plugin's "
        "defaults (or the renderbench_* ini values). Arguments after -- go to pytest.",
    )  # fmt: skip
    add_matrix_options(run_parser.add_argument, prefix="")
    add_gate_options(run_parser.add_argument, prefix="")
    run_parser.add_argument(
        "--results-dir", default="results",
        help="Where benchmark.json, history/ (autosaves), report.md and plots/ go. Default: results",
    )  # fmt: skip
    run_parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="-- then extra pytest arguments")
    run_parser.set_defaults(func=run)

    report_parser = commands.add_parser("report", help="re-draw the table, report.md and plots from saved JSON")
    report_parser.add_argument("json", nargs="*", help="pytest-benchmark JSON files. Default: results/benchmark.json")
    report_parser.add_argument(
        "--results-dir", default=None, help="Where report.md and plots/ go. Default: the first JSON file's folder"
    )
    report_parser.add_argument("--no-plots", action="store_true", help="Skip the PNG plots. Default: off")
    report_parser.set_defaults(func=report)

    compare_parser = commands.add_parser("compare", help="fps of two saved runs side by side")
    compare_parser.add_argument("before", help="the earlier pytest-benchmark JSON")
    compare_parser.add_argument("after", help="the later pytest-benchmark JSON")
    compare_parser.add_argument(
        "--max-fps-drop", type=_percent, default=None, metavar="PERCENT",
        help="Exit 1 when a case's fps fell by more than PERCENT, significantly. Default: off",
    )  # fmt: skip
    add_specs(compare_parser.add_argument, VERDICT_OPTIONS, prefix="")
    compare_parser.set_defaults(func=compare)

    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
