"""``renderbench history``: a static HTML page of every case's fps and speedup over saved runs.

    renderbench history [STORAGE ...] -o DIR

STORAGE is any mix of folders (searched for pytest-benchmark JSON files: autosaves such as
``results/history/Linux-CPython-3.11-64bit/0003_*.json``, ``benchmark.json`` files) and files.
Runs are put in commit order (pytest-benchmark records the git commit, its time and whether
the work tree had uncommitted changes with every run), machines are kept apart (a history is
only comparable on one machine), and each case gets one image: fps above, speedup over the
reference below, one point per run with its rounds' range, the levels found by
:func:`harness.steps.fit_steps` drawn through them and the steps marked. ``DIR/index.html``
needs no server: open it in a browser.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.results import ResultsError, load_run, slug
from harness.steps import Segment, Step, fit_steps, steps
from impls.model.results import Row

#: Where saved runs are looked for when no STORAGE is given: ``renderbench run``'s autosaves
#: and pytest-benchmark's own default storage.
DEFAULT_STORAGE = (Path("results/history"), Path(".benchmarks"))

#: Levels closer than this are one level (see :func:`harness.steps.fit_steps`).
MIN_STEP = 0.05

DESCRIPTION = (
    "Draw DIR/index.html (open it in a browser, no server needed): per machine, every case's fps "
    "and speedup over the saved runs in STORAGE, in commit order, with the steps a penalized "
    "piecewise-constant fit finds marked."
)


@dataclass(frozen=True)
class SavedRun:
    """One saved run: where it came from, which commit it measured, on which machine."""

    path: Path
    commit: str  # git commit id, or "unknown"
    commit_time: str | None
    dirty: bool  # uncommitted changes in the work tree when it ran
    when: str | None  # when the run finished
    machine: str
    rows: tuple[Row, ...]

    @property
    def label(self) -> str:
        """The commit as shown on the page: short id, ``+`` for uncommitted changes."""
        short = self.commit[:7] if re.fullmatch(r"[0-9a-f]{7,40}", self.commit) else "?"
        return short + ("+" if self.dirty else "")


@dataclass(frozen=True)
class Point:
    run: SavedRun
    row: Row


@dataclass
class CaseHistory:
    """One case on one machine over the runs that measured it, oldest commit first."""

    machine: str
    name: str  # case id and preset
    points: list[Point] = field(default_factory=list)

    def fps_fit(self) -> list[Segment]:
        return fit_steps([p.row.fps for p in self.points], MIN_STEP)

    def speedup_points(self) -> list[Point]:
        return [p for p in self.points if p.row.speedup and not p.row.is_reference]

    def speedup_fit(self) -> list[Segment]:
        return fit_steps([p.row.speedup or 0.0 for p in self.speedup_points()], MIN_STEP)


def find_files(storage: Iterable[Path]) -> list[Path]:
    """The JSON files under the folders (and the files) given."""
    found: list[Path] = []
    for place in storage:
        if place.is_dir():
            found += sorted(place.rglob("*.json"))
        elif place.is_file():
            found.append(place)
    return list(dict.fromkeys(found))


def _machine(facts: dict[str, Any] | None, data: dict[str, Any]) -> str:
    if facts and facts.get("cpu_model"):
        return f"{facts['cpu_model']}, {facts.get('cores', '?')} cores"
    cpu = (data.get("machine_info") or {}).get("cpu") or {}
    return f"{cpu.get('brand_raw', 'unknown machine')}, {cpu.get('count', '?')} cores"


def load(paths: Sequence[Path]) -> tuple[list[SavedRun], list[str]]:
    """The renderbench runs among ``paths``, and a note for each file that is not one."""
    runs: list[SavedRun] = []
    notes: list[str] = []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            run = load_run(path)
        except (OSError, ValueError, ResultsError) as exc:
            notes.append(f"{path}: skipped ({str(exc).removeprefix(f'{path}: ')})")
            continue
        if not run.rows:
            notes.append(f"{path}: skipped (no renderbench cases)")
            continue
        commit = data.get("commit_info") or {}
        runs.append(
            SavedRun(
                path=path, commit=str(commit.get("id") or "unknown"), commit_time=commit.get("time"),
                dirty=bool(commit.get("dirty")), when=run.datetime,
                machine=_machine(dict(run.machine or {}), data), rows=run.rows,
            )  # fmt: skip
        )
    return runs, notes


def _time(text: str | None) -> float:
    if not text:
        return float("inf")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return float("inf")


def in_commit_order(runs: Iterable[SavedRun]) -> list[SavedRun]:
    """Oldest commit first; runs of one commit (or without one) in the order they were made."""
    return sorted(runs, key=lambda r: (_time(r.commit_time or r.when), _time(r.when), str(r.path)))


def case_histories(runs: Iterable[SavedRun]) -> dict[str, list[CaseHistory]]:
    """Machine -> its cases' histories (cases in the order first seen)."""
    machines: dict[str, dict[tuple[str, ...], CaseHistory]] = {}
    for run in in_commit_order(runs):
        cases = machines.setdefault(run.machine, {})
        for row in run.rows:
            key = tuple(map(str, row.key))
            history = cases.setdefault(key, CaseHistory(run.machine, f"{row.case_id} ({row.preset})"))
            history.points.append(Point(run, row))
    return {machine: list(cases.values()) for machine, cases in machines.items()}


def _step_words(history: CaseHistory) -> list[str]:
    words = []
    for what, points, fit in (
        ("fps", history.points, history.fps_fit()),
        ("speedup", history.speedup_points(), history.speedup_fit()),
    ):
        for step in steps(fit):
            words.append(f"{100 * step.change:+.0f} % {what} at {points[step.index].run.label}")
    return words


# ---------------------------------------------------------------------------------------------
# Drawing


def _figure(rows: int) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.0, 2.6 * rows + 0.6), dpi=90)
    FigureCanvasAgg(figure)
    return figure


def _panel(axes: Any, points: Sequence[Point], values: Sequence[float], spans: Sequence[tuple[float, float]], fit: Sequence[Segment], label: str) -> None:
    xs = list(range(len(points)))
    # A saved median may lie outside its rounds' range (runs from before the rounds were kept).
    low = [max(0.0, v - lo) for v, (lo, _) in zip(values, spans)]
    high = [max(0.0, hi - v) for v, (_, hi) in zip(values, spans)]
    axes.errorbar(xs, values, yerr=[low, high], fmt="none", ecolor="0.6", capsize=2)
    clean = [i for i, p in enumerate(points) if not p.run.dirty]
    dirty = [i for i, p in enumerate(points) if p.run.dirty]
    axes.scatter([xs[i] for i in clean], [values[i] for i in clean], color="C0", zorder=3, label="run")
    if dirty:
        axes.scatter([xs[i] for i in dirty], [values[i] for i in dirty], facecolors="white", edgecolors="C0",
                     zorder=3, label="run with uncommitted changes")  # fmt: skip
    for segment in fit:
        axes.hlines(segment.level, segment.start - 0.4, segment.end - 0.6, color="C1", linewidth=2)
    for step in steps(fit):
        color = "red" if step.change < 0 else "green"
        axes.axvline(step.index - 0.5, color=color, linestyle="--", linewidth=1)
        axes.annotate(f"{100 * step.change:+.0f} %", (step.index - 0.5, step.after), color=color,
                      textcoords="offset points", xytext=(4, 4), fontsize=8)  # fmt: skip
    axes.set_ylabel(label)
    axes.set_xticks(xs)
    every = max(1, len(xs) // 30)
    axes.set_xticklabels([p.run.label if i % every == 0 else "" for i, p in enumerate(points)], rotation=90, fontsize=7)
    axes.set_xlim(-0.6, max(len(xs) - 0.4, 0.6))
    axes.grid(axis="y", alpha=0.3)


def _span(row: Row, scale: float = 1.0) -> tuple[float, float]:
    samples = row.fps_all or (row.fps,)
    return (min(samples) * scale, max(samples) * scale)


def draw(history: CaseHistory, path: Path) -> None:
    """The case's image: fps per run above, speedup per run below (when it has one)."""
    speedups = history.speedup_points()
    figure = _figure(2 if speedups else 1)
    axes = figure.subplots(2 if speedups else 1, 1, squeeze=False)[:, 0]
    points = history.points
    _panel(axes[0], points, [p.row.fps for p in points], [_span(p.row) for p in points], history.fps_fit(), "fps")
    axes[0].set_title(f"{history.name} on {history.machine}", fontsize=9)
    if speedups:
        values = [p.row.speedup or 0.0 for p in speedups]
        # The rounds' range of fps, as a ratio to this run's median speedup.
        spans = [_span(p.row, (p.row.speedup or 0.0) / p.row.fps) if p.row.fps > 0 else (v, v) for p, v in zip(speedups, values)]
        _panel(axes[1], speedups, values, spans, history.speedup_fit(), f"x {speedups[0].row.reference}")
    axes[-1].set_xlabel("commit (oldest first; + = uncommitted changes)")
    # Fixed margins: tight_layout would measure every label, and there is one image per case.
    height = figure.get_figheight()
    figure.subplots_adjust(left=0.1, right=0.98, top=1 - 0.35 / height, bottom=1.05 / height, hspace=0.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


# ---------------------------------------------------------------------------------------------
# The page

STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 60em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.n { text-align: right; }
.down { color: #b00; } .up { color: #070; }
img { max-width: 100%; border: 1px solid #eee; }
"""


def page(histories: dict[str, list[CaseHistory]], images: dict[int, str], runs: int, sources: Sequence[Path], notes: Sequence[str]) -> str:
    """The HTML of ``index.html``; ``images`` maps ``id(history)`` to its image's relative path."""
    e = html.escape
    out = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8"><title>renderbench history</title>',
        f"<style>{STYLE}</style></head><body>", "<h1>renderbench history</h1>",
        f"<p>{runs} runs from {e(', '.join(map(str, sources)))}, oldest commit first. Each point is one run's "
        "median (bars: the range of its rounds); a hollow point was measured with uncommitted changes (+). "
        "Orange lines are the levels a penalized piecewise-constant fit finds; dashed lines mark the steps "
        f"between them (levels closer than {100 * MIN_STEP:g} % count as one).</p>",
    ]  # fmt: skip
    for machine, cases in histories.items():
        out += [f'<h2 id="{e(slug("m", machine))}">{e(machine)}</h2>', "<table>",
                "<tr><th>case</th><th>runs</th><th>fps (latest)</th><th>x reference (latest)</th><th>steps</th></tr>"]  # fmt: skip
        for history in cases:
            latest = history.points[-1].row
            speedup = "-" if latest.speedup is None or latest.is_reference else f"{latest.speedup:.2f}x"
            found = _step_words(history)
            marks = "; ".join(f'<span class="{"down" if w.startswith("-") else "up"}">{e(w)}</span>' for w in found)
            anchor = slug("c", machine, history.name)
            out.append(
                f'<tr><td><a href="#{e(anchor)}">{e(history.name)}</a></td><td class="n">{len(history.points)}</td>'
                f'<td class="n">{latest.fps:.2f}</td><td class="n">{speedup}</td><td>{marks or "none"}</td></tr>'
            )
        out.append("</table>")
        for history in cases:
            anchor = slug("c", machine, history.name)
            out += [f'<h3 id="{e(anchor)}">{e(history.name)}</h3>',
                    f'<p><img src="{e(images[id(history)])}" alt="fps and speedup of {e(history.name)} per commit"></p>']  # fmt: skip
    if notes:
        out += ["<h2>Files left out</h2>", "<ul>"] + [f"<li>{e(note)}</li>" for note in notes] + ["</ul>"]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write(storage: Sequence[Path], out: Path) -> tuple[Path, int, list[str]]:
    """Draw the page of the runs in ``storage`` into ``out``: its path, the run count, notes."""
    runs, notes = load(find_files(storage))
    histories = case_histories(runs)
    images: dict[int, str] = {}
    for machine, cases in histories.items():
        for history in cases:
            relative = f"img/{slug(machine)}/{slug(history.name)}.png"
            draw(history, out / relative)
            images[id(history)] = relative
    index = out / "index.html"
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(page(histories, images, len(runs), storage, notes), encoding="utf-8")
    return index, len(runs), notes


# ---------------------------------------------------------------------------------------------
# The command


def main(args: argparse.Namespace) -> int:
    storage = [Path(p) for p in args.storage] or [p for p in DEFAULT_STORAGE if p.exists()]
    if not storage:
        wanted = " or ".join(map(str, DEFAULT_STORAGE))
        print(f"renderbench history: no saved runs in {wanted}; name a folder or files", file=sys.stderr)
        return 2
    index, count, notes = write(storage, Path(args.output))
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if count == 0:
        print(f"renderbench history: no renderbench runs in {', '.join(map(str, storage))}", file=sys.stderr)
        return 2
    print(f"{index}: {count} runs")
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``history`` on a ``parser.add_subparsers()`` object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "history", help="draw an HTML page of fps and speedup per case over saved runs",
        description=DESCRIPTION,
    )  # fmt: skip
    parser.add_argument(
        "storage", nargs="*",
        help="Folders of saved runs (searched for pytest-benchmark JSON) or JSON files. "
        f"Default: {' and '.join(map(str, DEFAULT_STORAGE))}, those that exist",
    )  # fmt: skip
    parser.add_argument("-o", "--output", default="renderbench-history", metavar="DIR",
                        help="Where index.html and its images go. Default: renderbench-history")  # fmt: skip
    parser.set_defaults(func=main)
    return parser


def step_list(history: CaseHistory) -> list[Step]:
    """The fps steps of a case's history (for tests and tools)."""
    return steps(history.fps_fit())
