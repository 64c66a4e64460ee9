"""Saved runs: reading pytest-benchmark JSON back into rows, speedups, and file names.

Each case's :class:`~impls.model.results.Row` is saved as its ``extra_info``; the report, the
plots and the gates work alike on a live session's rows and on a saved run's.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from impls.model.results import Row, saved_rows


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def slug(*parts: str) -> str:
    """``parts`` joined by ``-`` as a file name: anything but letters, digits, ``_.-`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts))


def fill_speedups(rows: Iterable[Row]) -> list[Row]:
    """Rows with ``speedup`` = fps / the reference row's fps of the same group (None without one)."""
    listed = list(rows)
    reference_fps = {
        row.group: row.fps for row in listed if row.is_reference and row.valid and row.fps > 0
    }
    out: list[Row] = []
    for row in listed:
        ref = reference_fps.get(row.group)
        out.append(replace(row, speedup=None if ref is None else row.fps / ref))
    return out


@dataclass(frozen=True)
class Run:
    """A saved run: its renderbench rows and where/when it was made."""

    rows: tuple[Row, ...]
    machine: Mapping[str, Any] | None = None
    datetime: str | None = None
    path: Path | None = None


class ResultsError(ValueError):
    """A results file that cannot be read as a pytest-benchmark run."""


def load_run(path: Path) -> Run:
    """Read a pytest-benchmark JSON file (``--benchmark-json`` or an autosave)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file") from None
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: not a readable JSON file ({exc})") from None
    try:
        rows = saved_rows(data, path)
    except ValueError as exc:
        raise ResultsError(f"{path}: {exc}") from None
    machine = next((row.machine for row in rows if row.machine), None)
    return Run(tuple(rows), machine, data.get("datetime"), path)


def latest_saved(storage: Path, machine_id: str) -> Path | None:
    """The newest ``NNNN_*.json`` pytest-benchmark autosaved for ``machine_id`` in ``storage``."""
    folder = Path(storage) / machine_id
    files = sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.json"))
    return files[-1] if files else None
