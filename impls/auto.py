"""``method="auto"``: the fastest valid renderer this machine has measured for this kind of work.

Where results come from: pytest-benchmark JSON files the harness saved, found in (in order)
``$RENDERBENCH_RESULTS`` (files or directories, ``os.pathsep``-separated), ``results/`` and
``.benchmarks/`` under the working directory; directories are searched recursively for
``*.json``. Each ``benchmarks[].extra_info`` is a :class:`~impls.model.results.Row`: its
``renderer``, ``workers``, ``encoder``, ``workload``, ``preset``, ``executor``, ``fps``,
``valid`` and ``machine`` (see :mod:`impls.machine`) decide.

How the winner is picked:

1. Keep rows that are valid (``valid is True``: a fast wrong render never wins), measured on
   this machine (same cores and CPU model), for this kind of work (renderers named
   ``manim-*`` render Manim scenes, the others MoviePy clips), on the executor asked for
   (``local`` unless told otherwise), by a renderer that is available now and supports the
   source.
2. Rows are compared only with rows of the same workload, size preset and encoder (a
   "group"): a
   configuration ``(renderer, workers)`` scores its median fps over its rows (rounds, repeated
   runs), and a renderer its best configuration in the group.
3. A renderer's score is the median, over the groups it appears in, of its fps divided by the
   group's best fps (with a single workload, as usual, this is simply "highest median fps").
   Ties go to the renderer measured in more groups, then to the higher fps.

The winner's best worker count is used when the caller leaves ``workers`` unset. With no
usable rows the documented defaults apply: ``chunk`` for MoviePy clips and ``manim-scenes``
for Manim scenes (the fastest on the reference runs), or the next available renderer.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from impls.machine import machine_facts, same_machine
from impls.model.protocol import ManimSource, Source
from impls.model.results import Row, saved_rows
from impls.runtime.executor import DEFAULT_EXECUTOR

Kind = Literal["moviepy", "manim"]

RESULTS_ENV = "RENDERBENCH_RESULTS"

#: Documented defaults when this machine has no saved results, then the next ones to try.
DEFAULTS: dict[Kind, tuple[str, ...]] = {
    "moviepy": ("chunk", "pipe", "disk", "baseline"),
    "manim": ("manim-scenes", "manim-serial"),
}

_KIND_LABEL: dict[Kind, str] = {"moviepy": "MoviePy clips", "manim": "Manim scenes"}


def source_kind(source: Source) -> Kind:
    return "manim" if isinstance(source, ManimSource) else "moviepy"


def renderer_kind(name: str) -> Kind:
    return "manim" if name.startswith("manim-") else "moviepy"


@dataclass(frozen=True)
class Choice:
    """The renderer ``auto`` picked, why, and (when results decided) its best worker count."""

    method: str
    reason: str
    workers: int | None = None
    fps: float | None = None
    from_results: bool = False
    files: tuple[Path, ...] = ()


def result_paths(cwd: Path | None = None) -> list[Path]:
    """Every saved result file, in search order, without duplicates."""
    base = Path.cwd() if cwd is None else Path(cwd)
    roots: list[Path] = [Path(p) for p in os.environ.get(RESULTS_ENV, "").split(os.pathsep) if p]
    roots += [base / "results", base / ".benchmarks"]
    found: list[Path] = []
    seen: set[Path] = set()
    for root in roots:
        if root.is_file():
            candidates: Iterable[Path] = [root]
        elif root.is_dir():
            candidates = sorted(root.rglob("*.json"))
        else:
            continue
        for path in candidates:
            key = path.resolve()
            if key not in seen and path.is_file():
                seen.add(key)
                found.append(path)
    return found


def load_rows(paths: Iterable[Path]) -> list[Row]:
    """Rows of every readable pytest-benchmark file with a finite fps > 0; others are ignored
    (a half-written or foreign file must not break rendering)."""
    rows: list[Row] = []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text())
            found = saved_rows(data, Path(path), strict=False)
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        rows += [row for row in found if math.isfinite(row.fps) and row.fps > 0]
    return rows


def _describe_machine(facts: Mapping[str, Any]) -> str:
    return f"{facts.get('cores')} cores, {facts.get('cpu_model')}"


def _default(kind: Kind, available: Callable[[str], bool], why: str) -> Choice:
    names = DEFAULTS[kind]
    for name in names:
        if available(name):
            if name == names[0]:
                reason = f"{why}; using the documented default for {_KIND_LABEL[kind]}, {name!r}"
            else:
                reason = (
                    f"{why}; the documented default {names[0]!r} is not available here, "
                    f"using {name!r}"
                )
            return Choice(method=name, reason=reason)
    raise LookupError(f"no renderer for {_KIND_LABEL[kind]} is available (tried {', '.join(names)})")


def choose(
    kind: Kind,
    available: Callable[[str], bool],
    *,
    facts: Mapping[str, Any] | None = None,
    paths: Sequence[Path] | None = None,
    executor: str = DEFAULT_EXECUTOR,
) -> Choice:
    """Pick the renderer for ``kind`` (see the module docstring for the rules).

    ``available(name)`` says whether a renderer can be used now for the source at hand.
    """
    facts = machine_facts() if facts is None else facts
    paths = result_paths() if paths is None else list(paths)
    rows = [
        r for r in load_rows(paths) if renderer_kind(r.renderer) == kind and r.executor == executor
    ]
    here = [r for r in rows if same_machine(r.machine, facts)]
    valid = [r for r in here if r.valid]
    ignored: list[str] = []
    if len(rows) > len(here):
        ignored.append(f"{len(rows) - len(here)} from other machines")
    if len(here) > len(valid):
        ignored.append(f"{len(here) - len(valid)} invalid")
    usable_names = {name for name in {r.renderer for r in valid} if available(name)}
    unavailable = sorted({r.renderer for r in valid} - usable_names)
    if unavailable:
        ignored.append(f"renderers not available now: {', '.join(unavailable)}")
    usable = [r for r in valid if r.renderer in usable_names]
    note = f" (ignored rows: {'; '.join(ignored)})" if ignored else ""
    if not usable:
        searched = "no result files found" if not paths else f"{len(paths)} result file(s) read"
        why = (
            f"no valid saved benchmark results for {_KIND_LABEL[kind]} on this machine "
            f"({_describe_machine(facts)}; {searched}){note}"
        )
        return _default(kind, available, why)

    # group (workload, preset, encoder) -> config (renderer, workers) -> fps of its rows
    groups: dict[tuple[str, str, str], dict[tuple[str, int | None], list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in usable:
        groups[(r.workload, r.preset, r.encoder)][(r.renderer, r.workers)].append(r.fps)

    ratios: dict[str, list[float]] = defaultdict(list)
    best_config: dict[str, tuple[float, int | None, float, tuple[str, str, str]]] = {}
    for group, configs in groups.items():
        medians = {cfg: statistics.median(v) for cfg, v in configs.items()}
        per_renderer: dict[str, tuple[float, int | None]] = {}
        for (name, workers), fps in medians.items():
            if name not in per_renderer or fps > per_renderer[name][0]:
                per_renderer[name] = (fps, workers)
        top = max(fps for fps, _ in per_renderer.values())
        for name, (fps, workers) in per_renderer.items():
            ratio = fps / top
            ratios[name].append(ratio)
            if name not in best_config or ratio > best_config[name][0]:
                best_config[name] = (ratio, workers, fps, group)

    def rank(name: str) -> tuple[float, int, float]:
        return (statistics.median(ratios[name]), len(ratios[name]), best_config[name][2])

    ordered = sorted(ratios, key=rank, reverse=True)
    winner = ordered[0]
    _, workers, fps, (workload, preset, encoder) = best_config[winner]
    rivals = ", ".join(f"{n} {best_config[n][2]:.2f} fps" for n in ordered[1:4])
    files = tuple(dict.fromkeys(r.path for r in usable if r.path is not None))
    at = f" at {workers} worker(s)" if workers is not None else ""
    on = " ".join(
        part for part in (workload, preset and f"({preset})", encoder and f"[{encoder}]") if part
    )
    reason = (
        f"fastest valid renderer for {_KIND_LABEL[kind]} in {len(usable)} saved result row(s) "
        f"from this machine ({_describe_machine(facts)}): {winner} {fps:.2f} fps median{at}"
        + (f" on {on}" if on else "")
        + (f", vs {rivals}" if rivals else "")
        + f"; from {', '.join(str(p) for p in files[:3])}"
        + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        + note
    )
    return Choice(
        method=winner, reason=reason, workers=workers, fps=fps, from_results=True, files=files
    )
