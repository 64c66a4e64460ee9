"""fps gates for CI. Pure functions over result rows; the plugin fails the session on any finding.

- :func:`check_min_speedup` is robust to the machine: each renderer must reach a speedup over
  the reference *measured in the same run* (so a slower CI runner slows both alike).
- :func:`check_fps_drop` keeps history: no case may lose more than a percentage of the fps it
  had in a saved run of the same machine.

An invalid output never passes a gate: its fps does not count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.options import SpeedupRule
from impls.model.results import Row


@dataclass(frozen=True)
class Regression:
    """One gate finding: which case (or renderer) and what is wrong, in words."""

    case: str
    message: str

    def __str__(self) -> str:
        return f"{self.case}: {self.message}"


def _groups(rows: Iterable[Row]) -> dict[tuple[str, str, str], list[Row]]:
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    return groups


def check_min_speedup(rows: Sequence[Row], rules: Sequence[SpeedupRule]) -> list[Regression]:
    """Each rule's renderer must reach its speedup in every workload x encoder of the run.

    Without ``@workers`` the renderer's best valid worker count counts; a renderer named by a
    rule that has no valid case where its reference ran is a finding too (a gate that cannot
    be checked must not pass).
    """
    found: list[Regression] = []
    for (workload, preset, encoder), group in _groups(rows).items():
        where = f"{workload} ({preset}, {encoder})"
        reference = next((r for r in group if r.is_reference), None)
        renderers = sorted({r.renderer for r in group if not r.is_reference})
        for rule in rules:
            names = renderers if rule.renderer == "*" else [rule.renderer]
            for name in names:
                label = f"{name}{'' if rule.workers is None else f'@{rule.workers}'} on {where}"
                mine = [r for r in group if r.renderer == name and not r.is_reference]
                if not mine:  # this renderer does not render this workload
                    continue
                if rule.workers is not None:
                    mine = [r for r in mine if r.workers == rule.workers]
                    if not mine:
                        found.append(Regression(label, f"no case with {rule.workers} workers ran"))
                        continue
                if reference is None or not reference.valid or reference.fps <= 0:
                    found.append(Regression(label, "no valid reference measured in this run, speedup unknown"))
                    continue
                valid = [r for r in mine if r.valid and r.speedup is not None]
                if not valid:
                    found.append(Regression(label, "no valid output, speedup does not count"))
                    continue
                best = max(valid, key=lambda r: r.speedup or 0.0)
                speedup = best.speedup or 0.0
                if speedup < rule.minimum:
                    found.append(
                        Regression(
                            label,
                            f"speedup {speedup:.2f}x (w{best.workers}, {best.fps:.2f} fps vs "
                            f"{reference.renderer} {reference.fps:.2f} fps) < required {rule.minimum:g}x",
                        )
                    )
    for rule in rules:
        if rule.renderer != "*" and not any(r.renderer == rule.renderer for r in rows):
            found.append(Regression(str(rule), f"renderer {rule.renderer!r} has no case in this run"))
    return found


def check_fps_drop(current: Sequence[Row], previous: Sequence[Row], max_drop_percent: float) -> list[Regression]:
    """Cases present in both runs whose fps fell by more than ``max_drop_percent`` %."""
    before = {row.key: row for row in previous if row.valid and row.fps > 0}
    found: list[Regression] = []
    for row in current:
        old = before.get(row.key)
        if old is None:
            continue
        if not row.valid:
            found.append(Regression(row.case_id, "output is invalid now (was valid in the saved run)"))
            continue
        drop = 100.0 * (old.fps - row.fps) / old.fps
        if drop > max_drop_percent:
            found.append(
                Regression(
                    row.case_id,
                    f"fps {row.fps:.2f} is {drop:.1f} % below the saved {old.fps:.2f} "
                    f"(allowed: {max_drop_percent:g} %)",
                )
            )
    return found


def compare_lines(current: Sequence[Row], previous: Sequence[Row]) -> list[str]:
    """A table of fps then and now for the cases in both runs (for ``renderbench compare``)."""
    before = {row.key: row for row in previous}
    lines: list[str] = []
    cells = [("case", "before", "after", "change")]
    for row in current:
        old = before.get(row.key)
        if old is None or old.fps <= 0:
            continue
        change = 100.0 * (row.fps - old.fps) / old.fps
        flag = "" if row.valid else " INVALID"
        cells.append((row.case_id, f"{old.fps:.2f}", f"{row.fps:.2f}", f"{change:+.1f} %{flag}"))
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    for n, cell in enumerate(cells):
        lines.append("  ".join([cell[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cell[1:], widths[1:], strict=True)]))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def machine_differences(current: Mapping[str, Any] | None, saved: Mapping[str, Any] | None) -> list[str]:
    """Facts that differ between two machines (history is only comparable on the same one)."""
    if not current or not saved:
        return []
    keys = ("cores", "cpu_model", "ffmpeg", "moviepy", "manim", "python")
    return [f"{k}: {saved.get(k)!r} then, {current.get(k)!r} now" for k in keys if saved.get(k) != current.get(k)]
