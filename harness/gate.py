"""What the fps gates show beside their verdicts: fps then and now, and whether two runs'
machines differ. The verdicts themselves are in :mod:`harness.verdicts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.report import aligned
from impls.model.results import Row


def compare_lines(current: Sequence[Row], previous: Sequence[Row]) -> list[str]:
    """A table of fps then and now for the cases in both runs (for ``renderbench compare``)."""
    before = {row.key: row for row in previous}
    cells = [["case", "before", "after", "change"]]
    for row in current:
        old = before.get(row.key)
        if old is None or old.fps <= 0:
            continue
        change = 100.0 * (row.fps - old.fps) / old.fps
        flag = "" if row.valid else " INVALID"
        cells.append([row.case_id, f"{old.fps:.2f}", f"{row.fps:.2f}", f"{change:+.1f} %{flag}"])
    return aligned(cells, {1, 2, 3})


def machine_differences(current: Mapping[str, Any] | None, saved: Mapping[str, Any] | None) -> list[str]:
    """Facts that differ between two machines (history is only comparable on the same one)."""
    if not current or not saved:
        return []
    keys = ("cores", "cpu_model", "ffmpeg", "moviepy", "manim", "python")
    return [f"{k}: {saved.get(k)!r} then, {current.get(k)!r} now" for k in keys if saved.get(k) != current.get(k)]
