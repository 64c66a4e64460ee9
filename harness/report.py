"""The results table (terminal and Markdown), the winner of each workload, where each case's CPU
went and whether the fast path was on, a clip object's render against its factory's, the
speed/quality frontier over encoder settings and the encode-bound limit. Pure functions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.stats import ratio_interval
from harness.workloads.presets import AS_OBJECT
from impls.model.results import PSNR_CAP, Row
from impls.runtime.executor import DEFAULT_EXECUTOR

COLUMNS = (
    "renderer", "workers", "encoder", "workload", "fps", "x ref", "CPU %", "frame ms/f",
    "decode ms/f", "encode ms/f", "other ms/f", "peak RSS", "fast path", "valid", "PSNR", "SSIM",
    "bitrate", "of limit",
)  # fmt: skip

#: Where a case's CPU went (harness.measure's roles), per column: the processes of each role.
ROLE_COLUMNS = {"frame ms/f": "frame", "decode ms/f": "decode", "encode ms/f": "encode", "other ms/f": "other"}
#: ``other`` (CPU no sample could put a role to, and tools at work on no media) is shown only
#: where it is at least this share of some case's CPU.
OTHER_SHOWN = 0.05


def cpu_ms_per_frame(row: Row, role: str) -> float | None:
    """Milliseconds of CPU per frame that the processes of ``role`` used (None: not measured)."""
    if not row.cpu_split or row.frames <= 0:
        return None
    return 1000 * float(row.cpu_split.get(role, 0.0)) / row.frames


def _notable_other(row: Row) -> float | None:
    total = sum(row.cpu_split.values())
    other = float(row.cpu_split.get("other", 0.0))
    return cpu_ms_per_frame(row, "other") if total > 0 and other >= OTHER_SHOWN * total else None


#: Columns shown only when some row has a value for them (quality is not measured in every mode,
#: the encode-bound limit only on cheap-frame workloads, the CPU split and the fast path not in
#: runs saved before they were).
OPTIONAL_COLUMNS: dict[str, Callable[[Row], object]] = {
    "PSNR": lambda r: r.psnr, "SSIM": lambda r: r.ssim, "bitrate": lambda r: r.bitrate,
    "of limit": lambda r: r.encode_limit_fraction,
    "frame ms/f": lambda r: cpu_ms_per_frame(r, "frame"),
    "decode ms/f": lambda r: cpu_ms_per_frame(r, "decode"),
    "encode ms/f": lambda r: cpu_ms_per_frame(r, "encode"),
    "other ms/f": _notable_other,
    "fast path": lambda r: r.fast_path,
}  # fmt: skip
NUMERIC_COLUMNS = frozenset(
    {"workers", "fps", "x ref", "CPU %", "peak RSS", "PSNR", "SSIM", "bitrate", "of limit", *ROLE_COLUMNS}
)

#: The setting other encoder settings are measured against: libx264's defaults.
ANCHOR_ENCODER = "libx264:medium:23"
#: How much lower PSNR than the anchor's still counts as the same quality (dB).
ANCHOR_TOLERANCE = 0.5
#: A pick that needs more than this times the anchor's bitrate (a mezzanine such as ProRes) is
#: followed by the fastest one that does not.
BITRATE_RATIO = 2.0


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


def format_psnr(value: float | None) -> str:
    if value is None:
        return "-"
    return "inf" if value >= PSNR_CAP else f"{value:.2f}"


def format_ssim(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_bitrate(bits_per_second: float | None) -> str:
    if bits_per_second is None:
        return "-"
    for unit, scale in (("Gb/s", 1e9), ("Mb/s", 1e6), ("kb/s", 1e3)):
        if bits_per_second >= scale:
            return f"{bits_per_second / scale:.2f} {unit}"
    return f"{bits_per_second:.0f} b/s"


def format_fraction(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


def format_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_fast_path(state: str | None) -> str:
    """The table's cell: on, off (its reason is listed under the table), - (no fast path)."""
    if state is None:
        return "-"
    return "on" if state == "on" else "off"


def _cells(row: Row, with_executor: bool) -> dict[str, str]:
    renderer = f"{row.renderer} ({row.executor})" if with_executor else row.renderer
    valid = "yes" if row.valid else f"NO ({len(row.problems)} problems)"
    return {
        "renderer": renderer,
        "workers": str(row.workers),
        "encoder": row.encoder,
        "workload": row.workload,
        "fps": f"{row.fps:.2f}",
        "x ref": format_speedup(row.speedup),
        "CPU %": f"{100 * row.cpu_util:.0f}",
        "peak RSS": human_bytes(row.peak_rss),
        "valid": valid,
        "PSNR": format_psnr(row.psnr),
        "SSIM": format_ssim(row.ssim),
        "bitrate": format_bitrate(row.bitrate),
        "of limit": format_fraction(row.encode_limit_fraction),
        **{name: format_ms(cpu_ms_per_frame(row, role)) for name, role in ROLE_COLUMNS.items()},
        "fast path": format_fast_path(row.fast_path),
    }


def shown_columns(rows: Sequence[Row]) -> list[str]:
    """:data:`COLUMNS` less the optional ones no row has a value for."""
    return [
        name for name in COLUMNS
        if name not in OPTIONAL_COLUMNS or any(OPTIONAL_COLUMNS[name](r) is not None for r in rows)
    ]  # fmt: skip


def table_cells(rows: Iterable[Row]) -> list[list[str]]:
    """Header plus one line of cells per row, sorted by workload then fps."""
    listed = sort_rows(rows)
    with_executor = any(r.executor != DEFAULT_EXECUTOR for r in listed)
    columns = shown_columns(listed)
    return [columns] + [[cells[c] for c in columns] for cells in (_cells(r, with_executor) for r in listed)]


def format_table(rows: Iterable[Row]) -> list[str]:
    """The table as aligned text lines (numbers right-aligned)."""
    cells = table_cells(rows)
    return aligned(cells, {i for i, name in enumerate(cells[0]) if name in NUMERIC_COLUMNS})


def aligned(cells: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    """A header line and rows of cells as text lines: columns padded, those in ``right``
    right-aligned, a dashed line under the header."""
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    lines = []
    for n, line in enumerate(cells):
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def markdown_table(rows: Iterable[Row]) -> list[str]:
    cells = table_cells(rows)
    align = ["---:" if name in NUMERIC_COLUMNS else "---" for name in cells[0]]
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
        executor = "" if row.executor == DEFAULT_EXECUTOR else f", {row.executor}"
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


def fast_path_lines(rows: Iterable[Row]) -> list[str]:
    """Why the fast path was off, per case where it was (the table says only "off")."""
    return [
        f"{row.case_id}: fast path {row.fast_path}"
        for row in sort_rows(rows)
        if row.fast_path is not None and row.fast_path != "on"
    ]


#: Below this share of all cores busy, idle cores are the first thing to fix.
BUSY = 0.75

_LEVERS = {
    "frame": "the composition: making its frames costs most",
    "encode": "the encoder: its preset (or chunk, whose encoders run in parallel)",
    "decode": "the source media: decoding them costs most",
    "other": "none of frames, decoding or encoding: see the other column",
}


def lever(row: Row) -> str:
    """What would speed ``row`` up most, from its CPU use and its split ("" without a split)."""
    if not row.cpu_split or sum(row.cpu_split.values()) <= 0:
        return ""
    if row.cpu_util < BUSY:
        return f"the cores: {100 * row.cpu_util:.0f} % of them were busy (more workers, a parallel renderer)"
    largest = max(_LEVERS, key=lambda role: float(row.cpu_split.get(role, 0.0)))
    return _LEVERS[largest]


def cpu_lines(rows: Iterable[Row]) -> list[str]:
    """Per workload x preset x encoder, where the fastest valid case's CPU went, and its lever."""
    lines = []
    for found in winners(rows):
        row = found.row
        total = sum(row.cpu_split.values())
        if total <= 0 or row.frames <= 0:
            continue
        parts = []
        for role, doing in (("frame", "making frames"), ("decode", "decoding"), ("encode", "encoding"), ("other", "other")):
            seconds = float(row.cpu_split.get(role, 0.0))
            if seconds > 0 or role != "other":
                ms = format_ms(cpu_ms_per_frame(row, role))
                parts.append(f"{ms} ms {doing} ({100 * seconds / total:.0f} %)")
        workers = f"{row.workers} worker{'' if row.workers == 1 else 's'}"
        lines.append(
            f"{found.workload} ({found.preset}, {found.encoder}), {row.label} with {workers}: CPU per frame "
            f"{', '.join(parts)}; {100 * row.cpu_util:.0f} % of all cores busy; lever: {lever(row)}"
        )
    return lines


#: Confidence of the interval :func:`object_lines` gives a clip object's paired wall ratio.
OBJECT_CONFIDENCE = 0.95


def object_lines(rows: Iterable[Row], confidence: float = OBJECT_CONFIDENCE) -> list[str]:
    """Per case of a clip-object workload (``slideshow_object``) whose factory's case
    (``slideshow``, same renderer, workers, encoder, preset, executor) ran too: the object's wall
    time over the factory's, round by round, as a geometric mean with its ``confidence``
    interval, and what sending the clip cost. One median of a few rounds moves by as much as
    the machine's noise; rounds that ran side by side (interleaved) are compared pairwise."""
    rows = list(rows)
    by_key = {row.key: row for row in rows}
    lines = []
    for row in sort_rows(rows):
        factory_name = AS_OBJECT.get(row.workload)
        if factory_name is None:
            continue
        factory = by_key.get((row.renderer, row.workers, row.encoder, factory_name, row.preset, row.executor))
        if factory is None:
            continue
        # The same clip, so the same frames: a round's wall ratio is the inverse fps ratio.
        pairs = zip(factory.fps_all, row.fps_all)
        ratios = [factory_fps / object_fps for factory_fps, object_fps in pairs if object_fps > 0]
        if not ratios:
            continue
        interval = ratio_interval(ratios, confidence)
        estimate = interval.estimate if interval else ratios[0]
        spread = (
            f"{100 * confidence:.0f} % interval {interval.low:.2f}-{interval.high:.2f}x over {len(ratios)} paired rounds"
            if interval
            else "1 round, no interval"
        )
        transfer = row.stages.get("transfer")
        sent = f"; sending the clip took {transfer:.2f} s" if transfer is not None else ""
        workers = f"{row.workers} worker{'' if row.workers == 1 else 's'}"
        lines.append(
            f"{row.workload} ({row.preset}, {row.encoder}), {row.label} with {workers}: "
            f"{estimate:.2f}x the wall time of its factory ({factory_name}; {spread}){sent}"
        )
    return lines


def problem_lines(rows: Iterable[Row]) -> list[str]:
    lines: list[str] = []
    for row in sort_rows(rows):
        if not row.valid:
            lines.append(f"{row.case_id}: INVALID")
            lines += [f"    - {p}" for p in row.problems]
    return lines


# ---------------------------------------------------------------------------------------------
# Speed and quality across encoder settings


def pareto_front(rows: Iterable[Row]) -> list[Row]:
    """Valid rows with a PSNR that no other is at least as fast and as good as (better in one).

    Sorted by fps, slowest first (so PSNR falls along the list).
    """
    points = [r for r in rows if r.valid and r.psnr is not None and r.fps > 0]

    def dominated(row: Row) -> bool:
        assert row.psnr is not None
        return any(
            o.fps >= row.fps and o.psnr >= row.psnr and (o.fps > row.fps or o.psnr > row.psnr)
            for o in points
            if o.psnr is not None
        )

    return sorted((r for r in points if not dominated(r)), key=lambda r: (r.fps, -(r.psnr or 0.0)))


def quality_groups(rows: Iterable[Row]) -> dict[tuple[str, str], list[Row]]:
    """Rows per workload x preset, only where at least two encoder settings have a PSNR."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.workload, row.preset), []).append(row)
    return {
        key: found for key, found in groups.items()
        if len({r.encoder for r in found if r.psnr is not None}) >= 2
    }  # fmt: skip


@dataclass(frozen=True)
class QualityPick:
    """The fastest valid case whose PSNR is within ``tolerance`` dB of the anchor setting's."""

    workload: str
    preset: str
    anchor: str
    anchor_psnr: float
    anchor_row: Row  # the anchor's own case its PSNR comes from
    row: Row
    tolerance: float
    bitrate_ratio: float | None = None  # the pick needs at most this times the anchor's bitrate

    def describe(self) -> str:
        row, anchor = self.row, self.anchor_row
        where = f"{self.workload} ({self.preset})"
        found = (
            f"{row.encoder} with {row.renderer} ({row.workers} worker{'' if row.workers == 1 else 's'})"
            f" - {row.fps:.2f} fps, PSNR {format_psnr(row.psnr)} dB, SSIM {format_ssim(row.ssim)}, "
            f"{format_bitrate(row.bitrate)}"
        )
        if row.bitrate and anchor.bitrate:
            found += f" ({row.bitrate / anchor.bitrate:.2f}x the bitrate)"
        ratio = f"; {row.fps / anchor.fps:.2f}x the fps of {self.anchor} with {anchor.renderer}" if anchor.fps > 0 else ""
        bound = "" if self.bitrate_ratio is None else f" at no more than {self.bitrate_ratio:g}x its bitrate"
        return (
            f"{where}: fastest setting within {self.tolerance:g} dB of {self.anchor}{bound} "
            f"(PSNR {format_psnr(self.anchor_psnr)} dB with {anchor.renderer}): {found}{ratio}"
        )


def _anchor_row(rows: Sequence[Row], anchor: str) -> Row | None:
    """The anchor setting's case its PSNR is taken from: the reference renderer's, else the
    fastest valid one (renderers of one setting differ by hundredths of a dB)."""
    found = [r for r in rows if r.encoder == anchor and r.valid and r.psnr is not None and r.fps > 0]
    if not found:
        return None
    return next((r for r in found if r.is_reference), max(found, key=lambda r: r.fps))


def quality_picks(
    rows: Iterable[Row],
    anchor: str = ANCHOR_ENCODER,
    tolerance: float = ANCHOR_TOLERANCE,
    bitrate_ratio: float = BITRATE_RATIO,
) -> list[QualityPick]:
    """Per workload x preset where ``anchor`` was measured: the fastest case at most
    ``tolerance`` dB below the anchor's PSNR; when that one needs more than ``bitrate_ratio``
    times the anchor's bitrate, also the fastest that does not."""
    picks: list[QualityPick] = []
    for (workload, preset), found in quality_groups(rows).items():
        ref = _anchor_row(found, anchor)
        if ref is None or ref.psnr is None:
            continue
        floor = ref.psnr - tolerance
        good = [r for r in found if r.valid and r.psnr is not None and r.psnr >= floor and r.fps > 0]
        best = max(good, key=lambda r: r.fps)  # never empty: the anchor's own case qualifies
        picks.append(QualityPick(workload, preset, anchor, ref.psnr, ref, best, tolerance))
        if ref.bitrate and best.bitrate and best.bitrate > bitrate_ratio * ref.bitrate:
            lean = [r for r in good if r.bitrate and r.bitrate <= bitrate_ratio * ref.bitrate]
            if lean:
                picks.append(QualityPick(
                    workload, preset, anchor, ref.psnr, ref, max(lean, key=lambda r: r.fps), tolerance, bitrate_ratio
                ))  # fmt: skip
    return picks


def frontier_markdown(rows: Sequence[Row], anchor: str = ANCHOR_ENCODER, tolerance: float = ANCHOR_TOLERANCE) -> list[str]:
    """The "Speed and quality" section: per workload, the pick and every case by fps."""
    groups = quality_groups(rows)
    if not groups:
        return []
    out = ["## Speed and quality", "",
           "PSNR and SSIM: against the exact source frames (a lossless render of them), from ffmpeg's "
           "psnr and ssim filters; bitrate: file bytes x 8 / duration; frontier: no other case is both "
           "at least as fast and at least as good.", ""]  # fmt: skip
    picks = quality_picks(rows, anchor, tolerance)
    for (workload, preset), found in groups.items():
        out += [f"### {workload} ({preset})", ""]
        mine = [p for p in picks if (p.workload, p.preset) == (workload, preset)]
        if mine:
            out += [f"- {pick.describe()}" for pick in mine] + [""]
        else:
            out += [f"- {anchor} was not measured (validly) here: no setting is named as good as it.", ""]
        front = {r.key for r in pareto_front(found)}
        out += ["| encoder | renderer | workers | fps | PSNR | SSIM | bitrate | frontier |",
                "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]  # fmt: skip
        for row in sorted(found, key=lambda r: -r.fps):
            mark = "yes" if row.key in front else ("invalid" if not row.valid else "")
            out.append(
                f"| {row.encoder} | {row.label} | {row.workers} | {row.fps:.2f} | {format_psnr(row.psnr)} | "
                f"{format_ssim(row.ssim)} | {format_bitrate(row.bitrate)} | {mark} |"
            )
        out.append("")
    return out


def limit_lines(rows: Iterable[Row]) -> list[str]:
    """Per workload x preset x encoder with an encode-bound limit: the limit and each case's share."""
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for row in sort_rows(rows):
        if row.encode_limit_fps is not None:
            groups.setdefault(row.group, []).append(row)
    lines: list[str] = []
    for (workload, preset, encoder), found in groups.items():
        limit = found[0].encode_limit_fps
        shares = ", ".join(
            f"{r.label} w{r.workers} {format_fraction(r.encode_limit_fraction)}" for r in found
        )
        lines.append(f"{workload} ({preset}, {encoder}): ffmpeg alone encodes it at {limit:.2f} fps; {shares}")
    return lines


def _to_seconds(when: str) -> str:
    """An ISO time to the second, as a run writes it (pytest-benchmark's JSON keeps microseconds)."""
    try:
        return datetime.fromisoformat(when).isoformat(timespec="seconds")
    except ValueError:
        return when


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
        out += [f"Run: {_to_seconds(when)}", ""]
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
            "CPU %: of all cores; frame / decode / encode ms/f: CPU per frame of the Python processes (the "
            "caller and its workers: making frames), of ffmpeg reading media files, and of every other ffmpeg "
            "(encoding, muxing); peak RSS: summed over the process tree; fast path: MoviePy's fast path in the "
            "workers (- where the renderer has none).", ""]  # fmt: skip
    out += markdown_table(rows)
    out.append("")
    reasons = fast_path_lines(rows)
    if reasons:
        out += ["Fast path off:", ""] + [f"- {line}" for line in reasons] + [""]
    where = cpu_lines(rows)
    if where:
        out += ["## Where the CPU goes", "",
                "Per workload, the fastest valid case: CPU per frame by the processes that used it (sampled "
                "from /proc; CPU of processes too short-lived for a sample to name counts as other), the "
                "share of all cores it kept busy, and what that makes the lever.", ""]  # fmt: skip
        out += [f"- {line}" for line in where] + [""]
    objects = object_lines(rows)
    if objects:
        out += ["## Clip object against its factory", "",
                "The same clip rendered from the object a script built and from its factory: the object's "
                "wall time over the factory's, paired round by round (geometric mean and its interval).",
                ""]  # fmt: skip
        out += [f"- {line}" for line in objects] + [""]
    out += frontier_markdown(rows)
    limits = limit_lines(rows)
    if limits:
        out += ["## Encode-bound limit", "",
                "ffmpeg encoding the same frames from memory with the same encoder (drawn once beforehand, "
                "timed in the same session); each case's fps as a share of it.", ""]  # fmt: skip
        out += [f"- {line}" for line in limits] + [""]
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
