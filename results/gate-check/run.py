"""The speedup gate's false-alarm check: the same commit gated N times, then a renderer slowed by 20 %.

    .venv/bin/python results/gate-check/run.py                  # the full check (about 25 minutes, see README)
    .venv/bin/python results/gate-check/run.py --tiny           # 1 + 1 runs on a 320x180, 1 s slideshow

Every run is the CI gate's own benchmark (``bench_gate.py``: the slideshow at 640x360, 2 s)
with the CI gate's renderer, workers, rounds and warm-up:

1. Calibration (unless ``--threshold``): one gate run without a rule measures the renderer's
   speedup S (geometric mean of the paired rounds); the rule is ``renderer=T`` with
   ``T = S * (1 - slowdown / 2)``, half-way between the renderer and its slowed self.
2. ``--runs`` gate runs of the renderer: none should *fail*.
3. ``--runs`` gate runs of ``<renderer>-slowed`` (``gate_check_slowed.py``: the same render,
   then a wait that takes ``slowdown`` off its fps) against the same ``T``: (nearly) all should
   *fail*.

Every run uses ``--renderbench-inconclusive=pass`` (so its exit status says only fail or not;
the verdict is read from its JSON). Writes ``OUT/verdicts.csv`` (one line per run) and
``OUT/table.md``: verdicts per kind, and the rounds each run needed: the fewest leading rounds
after which the same interval would already have given its final verdict.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(HERE)]

from bench_gate import CLIP_ENV, DEFAULT_CLIP  # noqa: E402
from harness.stats import ratio_interval  # noqa: E402

#: What the CI gate runs (.github/workflows/fps-gate.yml): the check measures that gate.
RENDERER, WORKERS, ROUNDS, WARMUP = "pipe", 2, 13, 1


@dataclass(frozen=True)
class Outcome:
    kind: str  # calibration, same, slowed
    run: int
    verdict: str  # pass, fail, inconclusive, or "error: ..." when no verdict was written
    speedup: float | None
    low: float | None
    high: float | None
    rounds: int
    decided_after: int | None  # leading rounds that already gave the final verdict
    rounds_needed: int | None  # inconclusive: the gate's estimate
    seconds: float


def decided_after(ratios: list[float], threshold: float, confidence: float, verdict: str) -> int | None:
    """The fewest leading rounds from which on the interval gives ``verdict`` at every count."""
    if verdict not in {"pass", "fail"}:
        return None
    first: int | None = None
    for k in range(2, len(ratios) + 1):
        interval = ratio_interval(ratios[:k], confidence)
        assert interval is not None
        same = interval.low >= threshold if verdict == "pass" else interval.high < threshold
        first = (first or k) if same else None
    return first


def gate(args: argparse.Namespace, kind: str, number: int, renderer: str, threshold: float | None) -> tuple[Outcome, list[float]]:
    out = args.out / "runs" / f"{kind}-{number:02d}"
    # pytest's console script, not python -m: with the work tree first on sys.path pytest would
    # find the plugin imported before it could rewrite its asserts.
    command = [
        str(Path(sys.executable).with_name("pytest")), str(HERE / "bench_gate.py"), "-p", "no:cacheprovider",
        f"--renderbench-renderers={renderer}", f"--renderbench-workers={args.workers}",
        f"--renderbench-rounds={args.rounds}", f"--renderbench-warmup={args.warmup}",
        "--renderbench-inconclusive=pass", f"--renderbench-significance={args.significance}",
        f"--renderbench-results-dir={out}", f"--benchmark-json={out / 'benchmark.json'}",
    ]  # fmt: skip
    if threshold is not None:
        command.append(f"--renderbench-min-speedup={renderer}={threshold:.4f}")
    if renderer.endswith("-slowed"):
        command += ["-p", "gate_check_slowed"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
    env.update(RENDERBENCH_SLOWED_RENDERER=args.renderer, RENDERBENCH_SLOWDOWN=str(args.slowdown))
    env[CLIP_ENV] = args.clip
    started = time.monotonic()
    print(f"gate-check: {kind} {number}: pytest {' '.join(command[1:])}", flush=True)
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    (out / "output.txt").parent.mkdir(parents=True, exist_ok=True)
    (out / "output.txt").write_text(completed.stdout + completed.stderr)
    try:
        data: dict[str, Any] = json.loads((out / "benchmark.json").read_text())
        (ratios,) = data["renderbench"]["paired_speedups"].values()
    except (OSError, ValueError, KeyError) as exc:
        return Outcome(kind, number, f"error: {type(exc).__name__} (see {out / 'output.txt'})", None, None, None, 0, None, None, seconds), []
    found = data["renderbench"]["verdicts"]
    if threshold is None or not found:
        interval = ratio_interval(ratios, 1 - args.significance) if len(ratios) > 1 else None
        low, high = (interval.low, interval.high) if interval else (None, None)
        return Outcome(kind, number, "-", statistics.geometric_mean(ratios), low, high, len(ratios), None, None, seconds), ratios
    (v,) = found
    after = decided_after(ratios, threshold, 1 - args.significance, v["outcome"])
    return Outcome(kind, number, v["outcome"], v["estimate"], v["low"], v["high"], v["rounds"], after, v["rounds_needed"], seconds), ratios


def _cell(value: float | int | None, pattern: str = "{:.3f}") -> str:
    return "-" if value is None else pattern.format(value)


def table(outcomes: list[Outcome], threshold: float, args: argparse.Namespace) -> str:
    lines = [
        "# Speedup gate: false-alarm check",
        "",
        f"`{args.renderer}` with {args.workers} workers on the slideshow at {args.clip} (WxHxs), {args.rounds} "
        f"interleaved rounds per run after {args.warmup} warm-up render(s), rule `{args.renderer}={threshold:.3f}`, "
        f"{100 * (1 - args.significance):g} % intervals; `{args.renderer}-slowed` takes {100 * args.slowdown:g} % off its fps.",
        "",
        "| runs | kind | pass | fail | inconclusive | decided after (rounds, median) | rounds needed when inconclusive (median) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind in ("same", "slowed"):
        mine = [o for o in outcomes if o.kind == kind]
        if not mine:
            continue
        count = {v: sum(o.verdict == v for o in mine) for v in ("pass", "fail", "inconclusive")}
        decided = [o.decided_after for o in mine if o.decided_after is not None]
        needed = [o.rounds_needed for o in mine if o.rounds_needed is not None]
        label = args.renderer if kind == "same" else f"{args.renderer}-slowed"
        lines.append(
            f"| {len(mine)} | {label} | {count['pass']} | {count['fail']} | {count['inconclusive']} | "
            f"{_cell(statistics.median(decided) if decided else None, '{:g}')} | {_cell(statistics.median(needed) if needed else None, '{:g}')} |"
        )
    lines += ["", "| kind | run | verdict | speedup | interval | rounds | decided after | rounds needed | seconds |",
              "| --- | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for o in outcomes:
        span = f"{o.low:.3f}-{o.high:.3f}" if o.low is not None and o.high is not None else "-"
        lines.append(
            f"| {o.kind} | {o.run} | {o.verdict} | {_cell(o.speedup)} | {span} | {o.rounds} | "
            f"{_cell(o.decided_after, '{}')} | {_cell(o.rounds_needed, '{}')} | {o.seconds:.0f} |"
        )
    return "\n".join(lines) + "\n"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="Gate runs of each kind. Default: 10")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"Rounds per gate run. Default: {ROUNDS}, as CI")
    parser.add_argument("--warmup", type=int, default=WARMUP, help=f"Warm-up renders per case. Default: {WARMUP}, as CI")
    parser.add_argument("--renderer", default=RENDERER, help=f"Default: {RENDERER}, as CI")
    parser.add_argument("--workers", type=int, default=WORKERS, help=f"Default: {WORKERS}, as CI")
    parser.add_argument("--clip", default=DEFAULT_CLIP, help=f"The slideshow's WIDTHxHEIGHTxSECONDS. Default: {DEFAULT_CLIP}, as CI")
    parser.add_argument("--slowdown", type=float, default=0.2, help="Share of fps the slowed renderer loses. Default: 0.2")
    parser.add_argument("--significance", type=float, default=0.05, help="Default: 0.05")
    parser.add_argument("--threshold", type=float, default=None, help="The rule's speedup. Default: calibrated (see above)")
    parser.add_argument("--out", type=Path, default=HERE / "latest", help="Default: results/gate-check/latest")
    parser.add_argument("--tiny", action="store_true", help="Try the script: a 320x180, 1 s slideshow, 1 run of each kind, 3 rounds")
    args = parser.parse_args(argv)
    if args.tiny:
        args.clip, args.runs, args.rounds = "320x180x1", 1, 3
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    threshold = args.threshold
    if threshold is None:
        calibration, ratios = gate(args, "calibration", 1, args.renderer, None)
        outcomes.append(calibration)
        if not ratios:
            print(f"gate-check: calibration failed: {calibration.verdict}", file=sys.stderr)
            return 1
        threshold = statistics.geometric_mean(ratios) * (1 - args.slowdown / 2)
        print(f"gate-check: measured speedup {statistics.geometric_mean(ratios):.3f}, rule {args.renderer}={threshold:.3f}")
    for kind, renderer in (("same", args.renderer), ("slowed", f"{args.renderer}-slowed")):
        for number in range(1, args.runs + 1):
            outcome, _ = gate(args, kind, number, renderer, threshold)
            outcomes.append(outcome)
            print(f"gate-check: {kind} {number}: {outcome.verdict} (speedup {_cell(outcome.speedup)}, {outcome.seconds:.0f} s)", flush=True)
    with open(args.out / "verdicts.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(outcomes[0])))
        writer.writeheader()
        writer.writerows(asdict(o) for o in outcomes)
    text = table(outcomes, threshold, args)
    (args.out / "table.md").write_text(text, encoding="utf-8")
    print(text)
    same_failed = sum(o.kind == "same" and o.verdict == "fail" for o in outcomes)
    slowed_failed = sum(o.kind == "slowed" and o.verdict == "fail" for o in outcomes)
    wanted = math.ceil(0.9 * args.runs)
    print(f"gate-check: same commit failed {same_failed} of {args.runs} (want 0); slowed failed {slowed_failed} of {args.runs} (want >= {wanted})")
    return 0 if same_failed == 0 and slowed_failed >= wanted else 1


if __name__ == "__main__":
    sys.exit(main())
