"""The results table (terminal and Markdown) and the winner of each workload. Pure functions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.results import Row

COLUMNS = ("renderer", "workers", "encoder", "workload", "fps", "x ref", "CPU %", "peak RSS", "valid")


def sort_rows(rows: Iterable[Row]) -> list[Row]:
    """By workload (first-seen order), then fps, fastest first."""
    listed = list(rows)
    order = {name: i for i, name in reversed(list(enumerate(r.workload for r in listed)))}
    return sorted(listed, key=lambda r: (order[r.workload], r.preset, -r.fps, r.renderer, r.workers))


def human_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit in {"B", "KiB"} else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_speedup(speedup: float | None) -> str:
    return "-" if speedup is None else f"{speedup:.2f}x"


def _cells(row: Row, with_executor: bool) -> list[str]:
    renderer = f"{row.renderer} ({row.executor})" if with_executor else row.renderer
    valid = "yes" if row.valid else f"NO ({len(row.problems)} problems)"
    return [
        renderer,
        str(row.workers),
        row.encoder,
        row.workload,
        f"{row.fps:.2f}",
        format_speedup(row.speedup),
        f"{100 * row.cpu_util:.0f}",
        human_bytes(row.peak_rss),
        valid,
    ]


def table_cells(rows: Iterable[Row]) -> list[list[str]]:
    """Header plus one line of cells per row, sorted by workload then fps."""
    listed = sort_rows(rows)
    with_executor = any(r.executor != "local" for r in listed)
    return [list(COLUMNS)] + [_cells(r, with_executor) for r in listed]


def format_table(rows: Iterable[Row]) -> list[str]:
    """The table as aligned text lines (numbers right-aligned)."""
    cells = table_cells(rows)
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    right = {1, 4, 5, 6, 7}
    lines = []
    for n, line in enumerate(cells):
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def markdown_table(rows: Iterable[Row]) -> list[str]:
    cells = table_cells(rows)
    align = ["---:" if i in {1, 4, 5, 6, 7} else "---" for i in range(len(COLUMNS))]
    lines = ["| " + " | ".join(cells[0]) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in cells[1:]]
    return lines


@dataclass(frozen=True)
class Winner:
    """The fastest valid case of one workload x preset x encoder."""

    workload: str
    preset: str
    encoder: str
    row: Row

    def describe(self) -> str:
        row = self.row
        where = f"{self.workload} ({self.preset}, {self.encoder})"
        if row.is_reference:
            return f"{where}: {row.renderer} - no renderer beat the reference ({row.fps:.2f} fps)"
        executor = "" if row.executor == "local" else f", {row.executor}"
        return (
            f"{where}: {row.renderer} with {row.workers} worker{'' if row.workers == 1 else 's'}{executor}"
            f" - {row.fps:.2f} fps, "
            f"{format_speedup(row.speedup)} {row.reference or 'reference'}"
        )


def winners(rows: Iterable[Row]) -> list[Winner]:
    """Per workload x preset x encoder, the fastest *valid* case (an invalid one never wins)."""
    best: dict[tuple[str, str, str], Row] = {}
    for row in sort_rows(rows):
        if row.valid and row.fps > 0:
            best.setdefault(row.group, row)
    return [Winner(w, p, e, row) for (w, p, e), row in best.items()]


def problem_lines(rows: Iterable[Row]) -> list[str]:
    lines: list[str] = []
    for row in sort_rows(rows):
        if not row.valid:
            lines.append(f"{row.case_id}: INVALID")
            lines += [f"    - {p}" for p in row.problems]
    return lines


def markdown(
    rows: Sequence[Row],
    *,
    machine: Mapping[str, Any] | None = None,
    title: str = "renderbench results",
    when: str | None = None,
    plots: Sequence[Path] = (),
    gate_lines: Sequence[str] = (),
    failures: Mapping[str, str] | None = None,
) -> str:
    """The Markdown report: machine, winners, table, gates, problems, plots (relative links)."""
    out = [f"# {title}", ""]
    if when:
        out += [f"Run: {when}", ""]
    if machine:
        out += ["## Machine", ""]
        out += [f"- {key}: {value}" for key, value in machine.items()]
        out.append("")
    found = winners(rows)
    if found:
        out += ["## Winners", ""]
        out += [f"- {w.describe()}" for w in found]
        out.append("")
    out += ["## Results", "", "fps: median over rounds; x ref: fps / the reference's fps in the same run; "
            "CPU %: of all cores; peak RSS: summed over the process tree.", ""]
    out += markdown_table(rows)
    out.append("")
    if gate_lines:
        out += ["## fps gates", ""] + [f"- {line}" for line in gate_lines] + [""]
    problems = problem_lines(rows)
    if problems:
        out += ["## Invalid outputs", "", "```", *problems, "```", ""]
    if failures:
        out += ["## Failed cases", ""]
        out += [f"- {case}: {message.splitlines()[0] if message else ''}" for case, message in failures.items()]
        out.append("")
    if plots:
        out += ["## Plots", ""]
        out += [f"![{p.stem}]({p.as_posix()})" for p in plots]
        out.append("")
    return "\n".join(out)
