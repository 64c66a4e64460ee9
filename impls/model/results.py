"""One measured case: what the harness records, and what ``method="auto"`` and the report read.

The harness saves each case's :class:`Row` as pytest-benchmark's ``extra_info``
(:meth:`Row.extra_info`: a public schema, the keys tools read from ``--benchmark-json`` and
``--benchmark-autosave`` files) and reads saved rows back with :meth:`Row.from_info`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from impls.runtime.executor import DEFAULT_EXECUTOR

#: PSNR recorded for identical frames: ffmpeg reports ``inf``, which JSON cannot hold.
PSNR_CAP = 100.0


@dataclass(frozen=True)
class Row:
    """One case's result, from a live session or a saved run."""

    renderer: str
    workers: int
    encoder: str  # EncoderSpec.label, e.g. libx264:medium:23
    workload: str
    fps: float  # median over rounds
    preset: str = ""  # smoke | full | custom
    executor: str = DEFAULT_EXECUTOR
    frames: int = 0
    fps_all: tuple[float, ...] = ()  # one per round
    speedup: float | None = None  # fps / the reference's fps (same group, same session)
    cpu_util: float = 0.0  # 0..1 of all cores, median over rounds
    cpu_seconds: float = 0.0  # median over rounds, whole process tree
    peak_rss: int = 0  # bytes, max over rounds, summed over the process tree
    stages: Mapping[str, float] = field(default_factory=dict)  # seconds, median over rounds
    valid: bool = True
    problems: tuple[str, ...] = ()
    machine: Mapping[str, Any] = field(default_factory=dict)  # impls.machine.machine_facts()
    reference: str | None = None  # the renderer the case is compared with
    wall: float = 0.0  # median seconds per round
    harness_overhead: float = 0.0  # largest share of wall the measurement itself took
    # Quality against the exact source frames (a lossless render of them, made once per
    # session), from ffmpeg's psnr and ssim filters; None when not measured.
    psnr: float | None = None  # dB, median over rounds; identical frames: PSNR_CAP
    ssim: float | None = None  # 0..1, median over rounds
    bitrate: float | None = None  # bits per second of the whole file
    # Cheap-frame workloads: ffmpeg encoding the same frames from memory with the same
    # encoder, timed in the same session; None elsewhere.
    encode_limit_fps: float | None = None
    encode_limit_fraction: float | None = None  # fps / encode_limit_fps
    # Where the CPU went: CPU-seconds by role (frame, decode, encode, other: see
    # harness.measure), each the median over rounds; empty where it was not measured.
    cpu_split: Mapping[str, float] = field(default_factory=dict)
    # MoviePy's fast path in the workers: "on", "off: <why>", None where the renderer has none.
    fast_path: str | None = None
    # Not saved in extra_info: where the row was read from.
    name: str = ""  # the test's name in pytest-benchmark's JSON
    path: Path | None = None  # the saved file

    @property
    def key(self) -> tuple[str, int, str, str, str, str]:
        """What identifies a case across runs."""
        return (self.renderer, self.workers, self.encoder, self.workload, self.preset, self.executor)

    @property
    def group(self) -> tuple[str, str, str]:
        """Rows compared with one another (one reference each): workload, preset, encoder."""
        return (self.workload, self.preset, self.encoder)

    @property
    def is_reference(self) -> bool:
        return self.renderer == self.reference

    @property
    def case_id(self) -> str:
        base = f"{self.renderer}-w{self.workers}-{self.encoder}-{self.workload}"
        return base if self.executor == DEFAULT_EXECUTOR else f"{base}-{self.executor}"

    @property
    def label(self) -> str:
        """Renderer as plotted: the executor is named when it is not the default one."""
        return self.renderer if self.executor == DEFAULT_EXECUTOR else f"{self.renderer} ({self.executor})"

    def extra_info(self) -> dict[str, Any]:
        """The row as pytest-benchmark's ``extra_info`` saves it."""
        return {
            f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name not in _NOT_SAVED
        }

    @classmethod
    def from_info(cls, info: Mapping[str, Any], name: str = "", path: Path | None = None) -> Row:
        """A row from a saved ``extra_info`` (KeyError, TypeError or ValueError when it is not
        a renderbench case); keys a saved row lacks take their defaults."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in _NOT_SAVED or info.get(f.name) is None:
                continue
            value = info[f.name]
            values[f.name] = _READ.get(f.name, _READ_TYPE.get(str(f.type), _same))(value)
        return cls(**values, name=name, path=path)


_NOT_SAVED = frozenset({"name", "path"})


def _plain(value: Any) -> Any:
    """A value as JSON holds it."""
    if isinstance(value, tuple):
        return list(value)
    return dict(value) if isinstance(value, Mapping) else value


def _same(value: Any) -> Any:
    return value


#: How a saved value is read back, by field type (and by name where the type says too little).
_READ_TYPE: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "float | None": float,
    "tuple[float, ...]": lambda v: tuple(float(x) for x in v),
    "tuple[str, ...]": lambda v: tuple(str(p) for p in v),
}
_READ: dict[str, Any] = {
    "stages": lambda v: {str(k): float(s) for k, s in v.items()},
    "cpu_split": lambda v: {str(k): float(s) for k, s in v.items()},
    "fast_path": str,
    "valid": lambda v: v is True,
    "machine": lambda v: v if isinstance(v, Mapping) else {},
}


def saved_rows(data: Any, path: Path | None = None, *, strict: bool = True) -> list[Row]:
    """The renderbench rows of a pytest-benchmark run's JSON (other benchmarks are skipped).

    A benchmark whose ``extra_info`` names a renderer but cannot be read raises ValueError
    naming it, or is skipped when not ``strict``.
    """
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ValueError("not a pytest-benchmark results file (no 'benchmarks' list)")
    rows: list[Row] = []
    for bench in data["benchmarks"]:
        info = bench.get("extra_info") if isinstance(bench, dict) else None
        if not isinstance(info, Mapping) or "renderer" not in info:
            continue  # another benchmark in the same session
        try:
            rows.append(Row.from_info(info, str(bench.get("fullname") or bench.get("name") or ""), path))
        except (KeyError, TypeError, ValueError) as exc:
            if not strict:
                continue
            raise ValueError(f"benchmark {bench.get('name')!r} has bad extra_info ({exc})") from None
    return rows
