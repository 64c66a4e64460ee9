"""A clip object's render against its factory's, in pairs: the wall-time ratio with its interval.

The full-HD slideshow is built once in this process, as a user's script builds it (the
harness's ``slideshow_object`` workload), and rendered alternately from that clip object and
from its factory (``slideshow``), in the order factory, object, object, factory, ... so that a
machine drifting faster or slower meets both alike. Each render is measured by the harness's
:class:`~harness.measure.TreeMonitor` (CPU-seconds of the whole tree by role). A pair's ratio is
the object's wall over the factory's; the summary gives their geometric mean with its 95 %
interval (:func:`harness.stats.ratio_interval`), and both sides' medians.

Unlike ``renderbench run``, it renders no reference (MoviePy's own 2-minute render of each
workload every round), so in the same time it measures several times as many pairs.

    .venv/bin/python results/clip-object/paired.py --pairs 8 --out results/clip-object/paired.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

CONFIDENCE = 0.95


def _render(source: Any, renderer: str, workers: int) -> dict[str, Any]:
    from harness.measure import TreeMonitor
    from impls import render

    with tempfile.TemporaryDirectory(prefix="paired-") as work:
        with TreeMonitor() as monitor:
            result = render(source, Path(work) / "out.mp4", method=renderer, workers=workers, progress=False)
    usage = monitor.usage
    assert usage is not None
    return {
        "wall": round(usage.wall, 3),
        "cpu_seconds": round(usage.cpu_seconds, 2),
        "cpu_by_role": {role: round(seconds, 2) for role, seconds in usage.cpu_by_role.items()},
        "stages": {stage: round(seconds, 3) for stage, seconds in result.stages.items()},
        "clip_transfer": result.info.get("clip_transfer"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--renderer", default="chunk")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--preset", default="full")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from harness.stats import ratio_interval
    from harness.workloads import presets

    with tempfile.TemporaryDirectory(prefix="paired-inputs-") as inputs:
        sources = {
            name: presets.workload(workload, args.preset, lambda: Path(inputs)).source
            for name, workload in (("factory", "slideshow"), ("object", "slideshow_object"))
        }
        rows: list[dict[str, Any]] = []
        for pair in range(args.pairs):
            order = ("factory", "object") if pair % 2 == 0 else ("object", "factory")
            for name in order:
                row = {"pair": pair, "source": name, **_render(sources[name], args.renderer, args.workers)}
                rows.append(row)
                print(f"pair {pair + 1}/{args.pairs} {name:8} wall {row['wall']:7.2f} s  "
                      f"CPU {row['cpu_seconds']:7.2f} s  {time.strftime('%H:%M:%S')}", flush=True)

    walls = {name: [r["wall"] for r in rows if r["source"] == name] for name in ("factory", "object")}
    wall = {(r["pair"], r["source"]): r["wall"] for r in rows}
    ratios = [wall[pair, "object"] / wall[pair, "factory"] for pair in range(args.pairs)]
    interval = ratio_interval(ratios, CONFIDENCE)
    summary = {
        "median_wall": {name: statistics.median(values) for name, values in walls.items()},
        "ratios": [round(r, 4) for r in ratios],
        "geometric_mean_ratio": None if interval is None else round(interval.estimate, 4),
        "interval": None if interval is None else [round(interval.low, 4), round(interval.high, 4)],
        "confidence": CONFIDENCE,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"renderer": args.renderer, "workers": args.workers,
                                    "preset": args.preset, "summary": summary, "renders": rows}, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
