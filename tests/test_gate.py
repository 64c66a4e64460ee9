"""fps gates on canned rows: what fails, what passes, and the words used."""

from __future__ import annotations

from collections.abc import Sequence

from dataclasses import replace

from harness.gate import check_fps_drop, check_min_speedup, compare_lines, machine_differences
from harness.options import SpeedupRule
from harness.results import fill_speedups
from impls.model.results import Row

ENC = "libx264:medium:23"


def row(renderer: str, workers: int, fps: float, workload: str = "slideshow", valid: bool = True) -> Row:
    return Row(
        renderer=renderer, workers=workers, encoder=ENC, workload=workload, preset="full", executor="local",
        frames=300, fps=fps, valid=valid, reference="manim-serial" if workload == "explainer" else "baseline",
    )  # fmt: skip


RUN = fill_speedups(
    [
        row("baseline", 1, 5.0),
        row("chunk", 1, 4.5),
        row("chunk", 2, 8.0),
        row("pipe", 2, 6.0),
        row("disk", 2, 9.0, valid=False),
        row("manim-serial", 1, 20.0, workload="explainer"),
        row("manim-scenes", 2, 26.0, workload="explainer"),
    ]
)


def messages(found: Sequence[object]) -> list[str]:
    return [str(f) for f in found]


def test_min_speedup_uses_the_best_valid_worker_count() -> None:
    assert check_min_speedup(RUN, [SpeedupRule("chunk", 1.5), SpeedupRule("manim-scenes", 1.2)]) == []
    assert messages(check_min_speedup(RUN, [SpeedupRule("pipe", 1.3), SpeedupRule("chunk", 1.3, workers=1)])) == [
        "pipe on slideshow (full, libx264:medium:23): speedup 1.20x (w2, 6.00 fps vs baseline 5.00 fps) < required 1.3x",
        "chunk@1 on slideshow (full, libx264:medium:23): speedup 0.90x (w1, 4.50 fps vs baseline 5.00 fps) < required 1.3x",
    ]


def test_an_invalid_or_missing_case_never_passes_a_gate() -> None:
    assert messages(check_min_speedup(RUN, [SpeedupRule("disk", 1.0)])) == [
        "disk on slideshow (full, libx264:medium:23): no valid output, speedup does not count"
    ]
    assert messages(check_min_speedup(RUN, [SpeedupRule("chunk", 1.0, workers=4), SpeedupRule("ray", 1.0)])) == [
        "chunk@4 on slideshow (full, libx264:medium:23): no case with 4 workers ran",
        "ray=1: renderer 'ray' has no case in this run",
    ]
    no_reference = [r for r in RUN if r.renderer != "baseline"]
    assert messages(check_min_speedup(no_reference, [SpeedupRule("chunk", 1.0)])) == [
        "chunk on slideshow (full, libx264:medium:23): no valid reference measured in this run, speedup unknown"
    ]


def test_star_rule_checks_every_renderer_of_every_workload() -> None:
    found = messages(check_min_speedup(RUN, [SpeedupRule("*", 1.5)]))
    assert [f.split(" on ")[0] for f in found] == ["disk", "pipe", "manim-scenes"]


def test_fps_drop_against_a_saved_run() -> None:
    before = [replace(r, fps=r.fps * 1.05) for r in RUN]  # everything was 5 % faster
    assert check_fps_drop(RUN, before, 10.0) == []
    slower = [replace(r, fps=r.fps * 0.8) if r.renderer == "chunk" else r for r in RUN]
    assert messages(check_fps_drop(slower, RUN, 10.0)) == [
        "chunk-w1-libx264:medium:23-slideshow: fps 3.60 is 20.0 % below the saved 4.50 (allowed: 10 %)",
        "chunk-w2-libx264:medium:23-slideshow: fps 6.40 is 20.0 % below the saved 8.00 (allowed: 10 %)",
    ]
    broken = [replace(r, valid=False) if r.renderer == "pipe" else r for r in RUN]
    assert messages(check_fps_drop(broken, RUN, 10.0)) == [
        "pipe-w2-libx264:medium:23-slideshow: output is invalid now (was valid in the saved run)"
    ]
    # Cases new in this run, or invalid in the saved one, have nothing to drop from.
    assert check_fps_drop(RUN + [row("chunk", 4, 1.0)], RUN, 10.0) == []


def test_compare_lines_and_machine_differences() -> None:
    lines = compare_lines([replace(r, fps=r.fps * 1.1) for r in RUN[:2]], RUN)
    assert lines[0].split() == ["case", "before", "after", "change"]
    assert lines[2].split() == ["baseline-w1-libx264:medium:23-slideshow", "5.00", "5.50", "+10.0", "%"]
    assert machine_differences({"cores": 2, "cpu_model": "A"}, {"cores": 16, "cpu_model": "A"}) == [
        "cores: 16 then, 2 now"
    ]
    assert machine_differences({"cores": 2}, None) == []
