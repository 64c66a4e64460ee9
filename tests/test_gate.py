"""What the gates show beside their verdicts: fps then and now, and machine differences."""

from __future__ import annotations

from dataclasses import replace

from harness.gate import compare_lines, machine_differences
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


def test_compare_lines_and_machine_differences() -> None:
    lines = compare_lines([replace(r, fps=r.fps * 1.1) for r in RUN[:2]], RUN)
    assert lines[0].split() == ["case", "before", "after", "change"]
    assert lines[2].split() == ["baseline-w1-libx264:medium:23-slideshow", "5.00", "5.50", "+10.0", "%"]
    assert machine_differences({"cores": 2, "cpu_model": "A"}, {"cores": 16, "cpu_model": "A"}) == [
        "cores: 16 then, 2 now"
    ]
    assert machine_differences({"cores": 2}, None) == []
