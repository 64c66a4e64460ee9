"""One measured case: what the harness records, and what ``method="auto"`` and the report read.

The harness saves each case's :class:`Row` as pytest-benchmark's ``extra_info``
(:meth:`Row.extra_info`: a public schema, the keys tools read from ``--benchmark-json`` and
``--benchmark-autosave`` files) and reads saved rows back with :meth:`Row.from_info`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: PSNR recorded for identical frames: ffmpeg reports ``inf``, which JSON cannot hold.
PSNR_CAP = 100.0


@dataclass(frozen=True)
class Row:
    """One case's result, from a live session or a saved run."""

    renderer: str
    workers: int
    encoder: str  # EncoderSpec.label, e.g. libx264:medium:23
    workload: str
    preset: str  # smoke | full | custom
    executor: str  # the executor's name, e.g. local
    frames: int
    fps: float  # median over rounds
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
        return base if self.executor == "local" else f"{base}-{self.executor}"

    @property
    def label(self) -> str:
        """Renderer as plotted: the executor is named when it is not the local pool."""
        return self.renderer if self.executor == "local" else f"{self.renderer} ({self.executor})"

    def extra_info(self) -> dict[str, Any]:
        """The row as pytest-benchmark's ``extra_info`` saves it (JSON types)."""
        return {
            "renderer": self.renderer,
            "workers": self.workers,
            "encoder": self.encoder,
            "workload": self.workload,
            "preset": self.preset,
            "executor": self.executor,
            "frames": self.frames,
            "fps": self.fps,
            "fps_all": list(self.fps_all),
            "speedup": self.speedup,
            "cpu_util": self.cpu_util,
            "cpu_seconds": self.cpu_seconds,
            "peak_rss": self.peak_rss,
            "stages": dict(self.stages),
            "valid": self.valid,
            "problems": list(self.problems),
            "machine": dict(self.machine),
            "reference": self.reference,
            "wall": self.wall,
            "harness_overhead": self.harness_overhead,
            "psnr": self.psnr,
            "ssim": self.ssim,
            "bitrate": self.bitrate,
            "encode_limit_fps": self.encode_limit_fps,
            "encode_limit_fraction": self.encode_limit_fraction,
        }

    @classmethod
    def from_info(cls, info: Mapping[str, Any], name: str = "", path: Path | None = None) -> Row:
        """A row from a saved ``extra_info`` (KeyError, TypeError or ValueError when it is not
        a renderbench case)."""
        stages = info.get("stages") or {}
        machine = info.get("machine")
        return cls(
            renderer=str(info["renderer"]),
            workers=int(info["workers"]),
            encoder=str(info["encoder"]),
            workload=str(info["workload"]),
            preset=str(info.get("preset", "")),
            executor=str(info.get("executor", "local")),
            frames=int(info.get("frames", 0)),
            fps=float(info["fps"]),
            fps_all=tuple(float(x) for x in info.get("fps_all") or ()),
            speedup=_optional(info.get("speedup")),
            cpu_util=float(info.get("cpu_util") or 0.0),
            cpu_seconds=float(info.get("cpu_seconds") or 0.0),
            peak_rss=int(info.get("peak_rss") or 0),
            stages={str(k): float(v) for k, v in stages.items()},
            valid=info.get("valid", True) is True,
            problems=tuple(str(p) for p in info.get("problems") or ()),
            machine=machine if isinstance(machine, Mapping) else {},
            reference=info.get("reference"),
            wall=float(info.get("wall") or 0.0),
            harness_overhead=float(info.get("harness_overhead") or 0.0),
            psnr=_optional(info.get("psnr")),
            ssim=_optional(info.get("ssim")),
            bitrate=_optional(info.get("bitrate")),
            encode_limit_fps=_optional(info.get("encode_limit_fps")),
            encode_limit_fraction=_optional(info.get("encode_limit_fraction")),
            name=name,
            path=path,
        )


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


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
