"""CPU-seconds and wall time of renderers x worker counts on one workload, one case at a time.

Each case renders in a fresh Python process (no forkserver, import or clip left over from the
case before), measured by the harness's own :class:`~harness.measure.TreeMonitor` around the
render only: CPU-seconds of the whole process tree (workers, MoviePy's and the encoders'
ffmpeg, manim's processes, LaTeX) and of its part by role (``decode``: the ffmpeg processes
reading media files), wall time, peak RSS. Cases run one after another, never two
at once; the machine's load average before each case is recorded beside it (other users of the
machine inflate wall time far more than CPU-seconds). Prints a Markdown table and writes every
measurement as JSON.

    .venv/bin/python results/cpu/cpu_table.py --workload edit --duration 5 \\
        --renderers baseline,pipe,chunk,disk --workers 1,2,4 --out results/cpu/edit-after.json
    .venv/bin/python results/cpu/cpu_table.py --workload explainer-tex \\
        --renderers manim-serial,manim-scenes --workers 2 --out results/cpu/explainer-tex-after.json

``--workload`` is a workload of the harness at ``--preset`` (default ``full``); ``--duration``
overrides a MoviePy workload's length in seconds (the edit at 5 s: 150 frames at 30 fps).
The encoder is libx264 medium crf 23 (``--encoder`` changes it). A reference renderer
(``baseline``, ``manim-serial``) runs with 1 worker only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REFERENCES = ("baseline", "manim-serial")


def _source(workload: str, preset: str, duration: float | None, inputs: Path) -> Any:
    from harness.workloads import presets
    from impls.model.protocol import ClipSource

    load = presets.workload(workload, preset, lambda: inputs)
    if load.source is None:
        raise SystemExit(f"workload {workload!r} is unavailable: {load.unavailable}")
    source = load.source
    if duration is not None:
        if not isinstance(source, ClipSource):
            raise SystemExit("--duration applies to MoviePy workloads only")
        source = dataclasses.replace(source, kwargs={**source.kwargs, "duration": duration})
    return source


def run_case(args: argparse.Namespace) -> dict[str, Any]:
    """One render in this process, measured (the child's side)."""
    from harness.measure import TreeMonitor
    from impls import EncoderSpec, RenderJob, get_renderer

    with tempfile.TemporaryDirectory(prefix="cpu-table-") as work:
        folder = Path(work)
        source = _source(args.workload, args.preset, args.duration, folder / "inputs")
        job = RenderJob(
            source=source, output=folder / "out.mp4", workers=args.one_workers,
            encoder=EncoderSpec.parse(args.encoder),
        )  # fmt: skip
        renderer = get_renderer(args.one)
        with TreeMonitor() as monitor:
            result = renderer.render(job)
        usage = monitor.usage
        assert usage is not None
        return {
            "renderer": args.one, "workers": args.one_workers, "frames": result.frames,
            "cpu_seconds": round(usage.cpu_seconds, 2), "wall": round(usage.wall, 2),
            "peak_rss_mb": round(usage.peak_rss / 2**20), "info": _plain(result.info),
            "stages": {k: round(v, 2) for k, v in result.stages.items()},
            "cpu_by_role": {k: round(v, 2) for k, v in usage.cpu_by_role.items()},
        }  # fmt: skip


def _plain(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if isinstance(v, str | int | float | bool)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", default="edit")
    parser.add_argument("--preset", default="full")
    parser.add_argument("--duration", type=float, default=None)
    parser.add_argument("--renderers", default="baseline,pipe,chunk,disk")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--encoder", default="libx264:medium:23")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--one-workers", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_case(args)))
        return

    rows: list[dict[str, Any]] = []
    counts = [int(w) for w in args.workers.split(",")]
    for name in args.renderers.split(","):
        for workers in [1] if name in REFERENCES else counts:
            load = os.getloadavg()[0]
            cmd = [
                sys.executable, __file__, "--one", name, "--one-workers", str(workers),
                "--workload", args.workload, "--preset", args.preset, "--encoder", args.encoder,
                *(["--duration", str(args.duration)] if args.duration is not None else []),
            ]  # fmt: skip
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{name} w{workers} failed:\n{done.stderr[-4000:]}")
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row["load_before"] = round(load, 2)
            rows.append(row)
            print(
                f"{name:14} w{workers}  {row['frames']:4d} frames  {row['cpu_seconds']:7.1f} CPU-s  "
                f"{row['wall']:6.1f} s wall  load {load:.1f}",
                flush=True,
            )
    reference = next((r for r in rows if r["renderer"] in REFERENCES), None)
    print("\n| renderer | workers | CPU-s | × reference | decoding CPU-s | wall s | load before |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        ratio = f"{row['cpu_seconds'] / reference['cpu_seconds']:.2f}" if reference else "-"
        decode = row.get("cpu_by_role", {}).get("decode")  # the ffmpeg processes reading media
        print(
            f"| {row['renderer']} | {row['workers']} | {row['cpu_seconds']:.1f} | {ratio} | "
            f"{'-' if decode is None else f'{decode:.1f}'} | {row['wall']:.1f} | {row['load_before']:.1f} |"
        )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"args": {k: v for k, v in vars(args).items() if k != "out" and not k.startswith("one")}, "rows": rows}, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
