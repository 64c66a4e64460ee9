"""The result of a case as stored in pytest-benchmark's ``extra_info``, and loading saved runs.

Every case writes the keys of :class:`ExtraInfo` (a public schema: tools read them from
``--benchmark-json`` / ``--benchmark-autosave`` files). :class:`Row` is the same record, typed,
for the report, the plots and the gates, which work alike on a live session and on saved JSON.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypedDict



class ExtraInfo(TypedDict):
    """``extra_info`` of one case. Keys and meanings are stable."""

    renderer: str
    workers: int
    encoder: str  # EncoderSpec.label, e.g. libx264:medium:23
    workload: str
    preset: str  # smoke | full
    executor: str  # local | dask
    frames: int
    fps: float  # median over rounds
    fps_all: list[float]  # one per round
    speedup: float | None  # fps / the reference's fps (same workload + encoder, same session)
    cpu_util: float  # 0..1 of all cores, median over rounds
    cpu_seconds: float  # median over rounds, whole process tree
    peak_rss: int  # bytes, max over rounds, summed over the process tree
    stages: dict[str, float]  # seconds per stage, median over rounds
    valid: bool
    problems: list[str]
    machine: dict[str, Any]  # impls.machine.machine_facts(): cores, cpu_model, ffmpeg, ...
    # Beyond the fixed schema:
    reference: str | None  # renderer the case is compared with
    wall: float  # median seconds per round
    harness_overhead: float  # largest share of wall the measurement itself took
    # Quality of the output against the exact source frames (a lossless render of the source,
    # made once per session), from ffmpeg's psnr and ssim filters; None when not measured.
    psnr: float | None  # dB, median over rounds; identical frames: PSNR_CAP (ffmpeg says inf)
    ssim: float | None  # 0..1, median over rounds
    bitrate: float | None  # bits per second of the whole file: bytes * 8 / video duration
    # Workloads whose frames cost almost nothing (gradient): ffmpeg encoding the same frames
    # from memory with the same encoder, timed in the same session; None elsewhere.
    encode_limit_fps: float | None
    encode_limit_fraction: float | None  # fps / encode_limit_fps


@dataclass(frozen=True)
class Row:
    """One case's result, from a live session or a saved run."""

    renderer: str
    workers: int
    encoder: str
    workload: str
    preset: str
    executor: str
    frames: int
    fps: float
    fps_all: tuple[float, ...] = ()
    speedup: float | None = None
    cpu_util: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss: int = 0
    stages: Mapping[str, float] = field(default_factory=dict)
    valid: bool = True
    problems: tuple[str, ...] = ()
    reference: str | None = None
    wall: float = 0.0
    harness_overhead: float = 0.0
    name: str = ""  # the test's name in pytest-benchmark's JSON
    psnr: float | None = None
    ssim: float | None = None
    bitrate: float | None = None
    encode_limit_fps: float | None = None
    encode_limit_fraction: float | None = None

    @property
    def key(self) -> tuple[str, int, str, str, str, str]:
        """What identifies a case across runs."""
        return (self.renderer, self.workers, self.encoder, self.workload, self.preset, self.executor)

    @property
    def group(self) -> tuple[str, str, str]:
        return (self.workload, self.preset, self.encoder)

    @property
    def is_reference(self) -> bool:
        return self.renderer == self.reference

    @property
    def case_id(self) -> str:
        base = f"{self.renderer}-w{self.workers}-{self.encoder}-{self.workload}"
        return base if self.executor == "local" else f"{base}-{self.executor}"

    @property
    def label(self) -> str:
        """Renderer as plotted: the executor is named when it is not the local pool."""
        return self.renderer if self.executor == "local" else f"{self.renderer} ({self.executor})"


#: PSNR recorded for identical frames: ffmpeg reports ``inf``, which JSON cannot hold.
PSNR_CAP = 100.0


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def row_from_info(info: Mapping[str, Any], name: str = "") -> Row:
    """A :class:`Row` from an ``extra_info`` mapping (KeyError when it is not a renderbench case)."""
    stages = info.get("stages") or {}
    return Row(
        renderer=str(info["renderer"]),
        workers=int(info["workers"]),
        encoder=str(info["encoder"]),
        workload=str(info["workload"]),
        preset=str(info.get("preset", "")),
        executor=str(info.get("executor", "local")),
        frames=int(info.get("frames", 0)),
        fps=float(info["fps"]),
        fps_all=tuple(float(x) for x in info.get("fps_all") or ()),
        speedup=None if info.get("speedup") is None else float(info["speedup"]),
        cpu_util=float(info.get("cpu_util") or 0.0),
        cpu_seconds=float(info.get("cpu_seconds") or 0.0),
        peak_rss=int(info.get("peak_rss") or 0),
        stages={str(k): float(v) for k, v in stages.items()},
        valid=bool(info.get("valid", True)),
        problems=tuple(str(p) for p in info.get("problems") or ()),
        reference=info.get("reference"),
        wall=float(info.get("wall") or 0.0),
        harness_overhead=float(info.get("harness_overhead") or 0.0),
        name=name,
        psnr=_optional(info.get("psnr")),
        ssim=_optional(info.get("ssim")),
        bitrate=_optional(info.get("bitrate")),
        encode_limit_fps=_optional(info.get("encode_limit_fps")),
        encode_limit_fraction=_optional(info.get("encode_limit_fraction")),
    )


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


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
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ResultsError(f"{path}: not a pytest-benchmark results file (no 'benchmarks' list)")
    rows: list[Row] = []
    machine: Mapping[str, Any] | None = None
    for bench in data["benchmarks"]:
        info = bench.get("extra_info") or {}
        if "renderer" not in info:  # another benchmark in the same session
            continue
        try:
            rows.append(row_from_info(info, str(bench.get("fullname") or bench.get("name") or "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultsError(f"{path}: benchmark {bench.get('name')!r} has bad extra_info ({exc})") from None
        machine = machine or info.get("machine")
    return Run(tuple(rows), machine, data.get("datetime"), path)


def latest_saved(storage: Path, machine_id: str) -> Path | None:
    """The newest ``NNNN_*.json`` pytest-benchmark autosaved for ``machine_id`` in ``storage``."""
    folder = Path(storage) / machine_id
    files = sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.json"))
    return files[-1] if files else None
