"""CPU-seconds, wall time and LaTeX runs of Manim renders of the LaTeX explainer, with the
render's shared Tex cache (option ``tex_cache``, the default) and without it.

Each case renders in a fresh Python process, measured by the harness's own
:class:`~harness.measure.TreeMonitor` around the render only (CPU-seconds of the whole process
tree: the render, manim's processes, LaTeX, ffmpeg). ``latex`` runs are counted by a stand-in
put first on ``PATH`` that logs each run and then runs the real one. Cases run one after
another; the load average before each is recorded beside it.

    .venv/bin/python results/tex-cache/measure.py --preset full --renderers manim-scenes \\
        --workers 2 --out results/tex-cache/explainer-tex-full.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def run_case(renderer: str, workers: int, preset: str, tex_cache: bool) -> dict[str, Any]:
    """One render in this process, measured (the child's side)."""
    from harness.measure import TreeMonitor
    from harness.workloads import presets
    from impls import EncoderSpec, RenderJob, get_renderer

    with tempfile.TemporaryDirectory(prefix="tex-cache-") as work:
        folder = Path(work)
        load = presets.workload("explainer-tex", preset, lambda: folder / "inputs")
        assert load.source is not None, load.unavailable
        job = RenderJob(
            source=load.source, output=folder / "out.mp4", workers=workers,
            encoder=EncoderSpec.parse("libx264:medium:23"), options={"tex_cache": tex_cache},
        )  # fmt: skip
        with TreeMonitor() as monitor:
            result = get_renderer(renderer).render(job)
        usage = monitor.usage
        assert usage is not None
        return {
            "renderer": renderer, "workers": workers, "tex_cache": tex_cache,
            "frames": result.frames, "cpu_seconds": round(usage.cpu_seconds, 2),
            "wall": round(usage.wall, 2), "stages": {k: round(v, 2) for k, v in result.stages.items()},
        }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="full")
    parser.add_argument("--renderers", default="manim-scenes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # renderer, on|off
    args = parser.parse_args()
    if args.one:
        name, cache = args.one
        print(json.dumps(run_case(name, args.workers, args.preset, cache == "on")))
        return

    latex = shutil.which("latex")
    if latex is None:
        raise SystemExit("latex is not installed")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tex-cache-bin-") as bin_dir:
        log = Path(bin_dir) / "latex.log"
        shim = Path(bin_dir) / "latex"
        shim.write_text(f'#!/bin/sh\necho run >> "{log}"\nexec "{latex}" "$@"\n')
        shim.chmod(0o755)
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
        for name in args.renderers.split(","):
            for cache in ("off", "on"):
                log.write_text("")
                load = os.getloadavg()[0]
                cmd = [
                    sys.executable, __file__, "--one", name, cache, "--workers", str(args.workers),
                    "--preset", args.preset,
                ]  # fmt: skip
                done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
                if done.returncode != 0:
                    raise SystemExit(f"{name} tex_cache={cache} failed:\n{done.stderr[-4000:]}")
                row = json.loads(done.stdout.strip().splitlines()[-1])
                row["latex_runs"] = len(log.read_text().splitlines())
                row["load_before"] = round(load, 2)
                rows.append(row)
                print(
                    f"{name:14} w{args.workers} tex_cache={cache:3}  {row['frames']:4d} frames  "
                    f"{row['cpu_seconds']:7.1f} CPU-s  {row['wall']:6.1f} s wall  "
                    f"{row['latex_runs']:3d} latex runs  load {load:.1f}",
                    flush=True,
                )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        meta = {"preset": args.preset, "workload": "explainer-tex", "workers": args.workers,
                "encoder": "libx264:medium:23", "cores": os.cpu_count()}  # fmt: skip
        args.out.write_text(json.dumps({"args": meta, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
