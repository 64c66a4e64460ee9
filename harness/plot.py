"""PNG plots of a run (matplotlib's Agg canvas, no pyplot: no global backend state), written
with the run's Markdown report into one folder (:func:`write_report`).

Per workload x preset x encoder: fps against workers (the reference as a line, and the
encode-bound limit where it was measured), speedup against workers (with the ideal linear
speedup and the CPU-bound limit), and CPU utilisation per case. Per workload x preset measured
with two or more encoder settings: the speed/quality frontier (fps against PSNR, marker area by
bitrate, the Pareto frontier drawn, each encoder's encode-bound limit as a vertical line).

The CPU-bound limit: the cheapest valid case shows how many CPU-seconds the work needs at
least (``C``); on ``k`` cores it cannot finish faster than ``C / k``, so its speedup over the
reference's wall time ``W`` is at most ``W * k / C``, whatever the worker count. (Not
``min(n, k)`` cores for ``n`` workers: the encoder and the parent run beside the workers, so
one worker already keeps more than one core busy; the recorded CPU time does not say how much
of it the workers used, so no tighter bound per worker count follows from it.)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.report import format_bitrate, markdown, pareto_front, quality_groups, quality_picks
from harness.results import slug
from impls.model.results import Row


def _figure(width: float = 7.0, height: float = 4.5) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(figure)
    return figure


def _wall(row: Row) -> float:
    return row.wall if row.wall > 0 else (row.frames / row.fps if row.fps > 0 else 0.0)


def cpu_bound_limit(rows: Sequence[Row], cores: int) -> float | None:
    """Highest speedup over the reference possible on ``cores`` (see module doc)."""
    ref = next((r for r in rows if r.is_reference and r.valid), None)
    costs = [r.cpu_seconds for r in rows if r.valid and r.cpu_seconds > 0]
    if ref is None or not costs or _wall(ref) <= 0:
        return None
    return _wall(ref) * cores / min(costs)


def _series(rows: Sequence[Row]) -> dict[str, list[Row]]:
    lines: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if not row.is_reference:
            lines[row.label].append(row)
    return {label: sorted(found, key=lambda r: r.workers) for label, found in lines.items()}


def _plot_lines(axes: Any, series: dict[str, list[Row]], value: Any) -> None:
    for label, found in series.items():
        xs = [r.workers for r in found]
        axes.plot(xs, [value(r) for r in found], marker="o", label=label)
        bad = [r for r in found if not r.valid]
        if bad:
            axes.scatter([r.workers for r in bad], [value(r) for r in bad], marker="x", s=90, color="red",
                         zorder=5, label=f"{label}: invalid output")  # fmt: skip


def _worker_ticks(axes: Any, rows: Sequence[Row]) -> list[int]:
    ticks = sorted({r.workers for r in rows if not r.is_reference} | {1})
    axes.set_xticks(ticks)
    axes.set_xlabel("workers")
    return ticks


def fps_plot(rows: Sequence[Row], path: Path, title: str) -> Path:
    figure = _figure()
    axes = figure.add_subplot()
    _plot_lines(axes, _series(rows), lambda r: r.fps)
    ref = next((r for r in rows if r.is_reference), None)
    if ref is not None:
        axes.axhline(ref.fps, color="black", linestyle="--", label=f"{ref.renderer} ({ref.fps:.2f} fps)")
    limit = encode_limit(rows)
    if limit is not None:
        axes.axhline(limit, color="firebrick", linestyle=":", label=f"encode-bound limit ({limit:.2f} fps)")
    _worker_ticks(axes, rows)
    return _save_lines(figure, axes, "frames per second", title, path)


def speedup_plot(rows: Sequence[Row], path: Path, title: str, cores: int) -> Path:
    figure = _figure()
    axes = figure.add_subplot()
    _plot_lines(axes, _series(rows), lambda r: r.speedup or 0.0)
    ticks = _worker_ticks(axes, rows)
    axes.plot(ticks, ticks, color="gray", linestyle=":", label="ideal (linear)")
    limit = cpu_bound_limit(rows, cores)
    if limit is not None:
        axes.axhline(limit, color="firebrick", linestyle="--", label=f"CPU-bound limit ({cores} cores)")
    axes.axhline(1.0, color="black", linewidth=0.8)
    return _save_lines(figure, axes, "speedup over the reference", title, path)


def _save_lines(figure: Any, axes: Any, ylabel: str, title: str, path: Path) -> Path:
    """Label a plot of lines against workers (y from 0) and write it."""
    axes.set_ylabel(ylabel)
    axes.set_ylim(bottom=0)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    return path


def cpu_plot(rows: Sequence[Row], path: Path, title: str) -> Path:
    ordered = sorted(rows, key=lambda r: (not r.is_reference, r.label, r.workers))
    figure = _figure(height=max(2.5, 0.35 * len(ordered) + 1.2))
    axes = figure.add_subplot()
    names = [f"{r.label} w{r.workers}" for r in ordered]
    values = [100 * r.cpu_util for r in ordered]
    colors = ["gray" if r.is_reference else ("red" if not r.valid else "tab:blue") for r in ordered]
    axes.barh(names, values, color=colors)
    axes.axvline(100, color="black", linestyle="--", linewidth=0.8)
    axes.invert_yaxis()
    axes.set_xlabel("CPU utilisation, % of all cores")
    axes.set_xlim(0, max(105.0, *values) if values else 105.0)
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path)
    return path


def encode_limit(rows: Sequence[Row]) -> float | None:
    """The encode-bound limit (fps) of one workload x preset x encoder, when measured."""
    return next((r.encode_limit_fps for r in rows if r.encode_limit_fps is not None), None)


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
#: Colours per encoder setting: matplotlib's cycle without its gray (renderers' legend colour).
_COLORS = tuple(f"C{i}" for i in (0, 1, 2, 3, 4, 5, 6, 8, 9))


def _marker_areas(rows: Sequence[Row]) -> list[float]:
    """Marker areas growing with log bitrate: bitrates span 1000x (x264 to ProRes), and areas
    in proportion would leave every lossy setting a dot."""
    known = [r.bitrate for r in rows if r.bitrate]
    if not known:
        return [60.0] * len(rows)
    low, high = min(known), max(known)
    span = math.log(high / low) if high > low else 1.0
    return [40.0 + 360.0 * (math.log(r.bitrate / low) / span) if r.bitrate else 40.0 for r in rows]


def frontier_plot(rows: Sequence[Row], path: Path, title: str) -> Path:
    """fps (x) against PSNR (y) of every valid case with a PSNR; see the module docstring."""
    from matplotlib.lines import Line2D

    points = [r for r in rows if r.valid and r.psnr is not None and r.fps > 0]
    encoders = list(dict.fromkeys(r.encoder for r in sorted(points, key=lambda r: r.encoder)))
    renderers = list(dict.fromkeys(r.label for r in points))
    colors = {e: _COLORS[i % len(_COLORS)] for i, e in enumerate(encoders)}
    markers = {name: _MARKERS[i % len(_MARKERS)] for i, name in enumerate(renderers)}
    figure = _figure(width=10.0, height=5.5)
    axes = figure.add_subplot()
    areas = _marker_areas(points)
    for row, area in zip(points, areas, strict=True):
        axes.scatter([row.fps], [row.psnr], s=area, color=colors[row.encoder], marker=markers[row.label],
                     alpha=0.8, edgecolors="black", linewidths=0.5, zorder=3)  # fmt: skip
    front = pareto_front(points)
    if front:
        axes.plot([r.fps for r in front], [r.psnr for r in front], color="black", linestyle="--",
                  linewidth=1.0, zorder=2)  # fmt: skip
    limits: dict[str, float] = {}
    for row in rows:
        if row.encode_limit_fps is not None:
            limits.setdefault(row.encoder, row.encode_limit_fps)
    for encoder, limit in limits.items():
        axes.axvline(limit, color=colors.get(encoder, "firebrick"), linestyle=":", linewidth=1.2)
    picks = quality_picks(points)
    if picks:
        floor = picks[0].anchor_psnr - picks[0].tolerance
        axes.axhline(floor, color="gray", linewidth=0.8)
    handles = [Line2D([], [], color=colors[e], marker="o", linestyle="", label=e) for e in encoders]
    handles += [
        Line2D([], [], color="black", markerfacecolor="white", marker=markers[n], linestyle="", label=n)
        for n in renderers
    ]
    handles.append(Line2D([], [], color="black", linestyle="--", label="Pareto frontier"))
    if limits:
        handles.append(Line2D([], [], color="gray", linestyle=":", label="encode-bound limit (per encoder colour)"))
    if picks:
        label = f"{picks[0].tolerance:g} dB below {picks[0].anchor}"
        handles.append(Line2D([], [], color="gray", linewidth=0.8, label=label))
    known = sorted(r.bitrate for r in points if r.bitrate)
    if known:
        for value in dict.fromkeys((known[0], known[len(known) // 2], known[-1])):
            area = _marker_areas([*points, replace(points[0], bitrate=value)])[-1]
            handles.append(Line2D([], [], color="lightgray", marker="o", markeredgecolor="black", linestyle="",
                                  markersize=math.sqrt(area), label=format_bitrate(value)))  # fmt: skip
    axes.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), labelspacing=1.0)
    axes.set_xlabel("frames per second")
    axes.set_ylabel("PSNR against the source frames (dB)")
    axes.set_xlim(left=0)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    return path


def write_plots(rows: Iterable[Row], outdir: Path, cores: int) -> list[Path]:
    """All plots of a run into ``outdir``; returns the files written."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    rows = list(rows)
    groups: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for row in rows:
        groups[row.group].append(row)
    written: list[Path] = []
    for (workload, preset, encoder), found in groups.items():
        stem = slug(workload, preset, encoder)
        title = f"{workload} ({preset}), {encoder}"
        written.append(fps_plot(found, outdir / f"{stem}-fps.png", f"fps - {title}"))
        written.append(speedup_plot(found, outdir / f"{stem}-speedup.png", f"speedup - {title}", cores))
        written.append(cpu_plot(found, outdir / f"{stem}-cpu.png", f"CPU utilisation - {title}"))
    for (workload, preset), found in quality_groups(rows).items():
        path = outdir / f"{slug(workload, preset)}-frontier.png"
        written.append(frontier_plot(found, path, f"speed and quality - {workload} ({preset})"))
    return written


def write_report(
    rows: Sequence[Row], out: Path, machine: Mapping[str, Any], when: str | None, *,
    plots: bool = True, gate_lines: Sequence[str] = (), failures: Mapping[str, str] | None = None,
) -> list[Path]:  # fmt: skip
    """Write ``out/report.md`` and, with ``plots``, ``out/plots/``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    drawn = write_plots(rows, out / "plots", int(machine.get("cores") or 1)) if plots else []
    text = markdown(
        rows, machine=machine, when=when, plots=[p.relative_to(out) for p in drawn],
        gate_lines=gate_lines, failures=failures,
    )  # fmt: skip
    path = out / "report.md"
    path.write_text(text + "\n", encoding="utf-8")
    return [path, *drawn]
