"""Report, plots and results loading on canned rows: pure functions, no renders."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness import report
from harness.plot import cpu_bound_limit, write_plots
from harness.results import ResultsError, fill_speedups, latest_saved, load_run
from impls.model.results import Row

ENC = "libx264:medium:23"


def row(renderer: str, workers: int, fps: float, workload: str = "slideshow", **kw: object) -> Row:
    reference = "manim-serial" if workload == "explainer" else "baseline"
    base = Row(
        renderer=renderer, workers=workers, encoder=ENC, workload=workload, preset="full",
        executor="local", frames=300, fps=fps, fps_all=(fps,), cpu_util=0.5,
        cpu_seconds=60.0, peak_rss=3 * 2**30 // 2, reference=reference, wall=300 / fps,
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


ROWS = fill_speedups(
    [
        row("baseline", 1, 5.0),
        row("chunk", 1, 4.0),
        row("chunk", 2, 8.0),
        row("pipe", 2, 9.5, valid=False, problems=("has 299 frames, expected 300",)),
        row("manim-serial", 1, 20.0, workload="explainer"),
        row("manim-scenes", 2, 26.0, workload="explainer"),
    ]
)


def test_speedups_divide_by_the_reference_of_the_same_group() -> None:
    speedups = {(r.renderer, r.workers): r.speedup for r in ROWS}
    assert speedups[("baseline", 1)] == 1.0
    assert speedups[("chunk", 2)] == pytest.approx(1.6)
    assert speedups[("manim-scenes", 2)] == pytest.approx(1.3)
    orphan = fill_speedups([row("chunk", 2, 8.0, encoder="libx265:medium:28")] + ROWS)[0]
    assert orphan.speedup is None


def test_table_sorted_by_workload_then_fps() -> None:
    lines = report.format_table(ROWS)
    assert lines[0].split() == ["renderer", "workers", "encoder", "workload", "fps", "x", "ref", "CPU", "%", "peak", "RSS", "valid"]
    assert set(lines[1]) <= {"-", " "}
    body = [line.split()[:2] for line in lines[2:]]
    assert body == [["pipe", "2"], ["chunk", "2"], ["baseline", "1"], ["chunk", "1"], ["manim-scenes", "2"], ["manim-serial", "1"]]
    chunk = lines[3]
    assert "8.00" in chunk and "1.60x" in chunk and " 50 " in chunk and "1.5 GiB" in chunk and chunk.endswith("yes")
    assert lines[2].endswith("NO (1 problems)")


def test_winner_is_the_fastest_valid_case() -> None:
    winners = {w.workload: w for w in report.winners(ROWS)}
    assert winners["slideshow"].row.renderer == "chunk"  # pipe is faster but invalid
    assert winners["slideshow"].describe() == (
        "slideshow (full, libx264:medium:23): chunk with 2 workers - 8.00 fps, 1.60x baseline"
    )
    assert winners["explainer"].row.renderer == "manim-scenes"
    only_ref = report.winners([row("baseline", 1, 5.0, speedup=1.0), row("chunk", 2, 4.0, speedup=0.8)])
    assert only_ref[0].describe().endswith("baseline - no renderer beat the reference (5.00 fps)")


def test_markdown_report() -> None:
    text = report.markdown(
        ROWS, machine={"cores": 2, "cpu_model": "AMD EPYC"}, plots=[Path("plots/a.png")],
        gate_lines=["min speedup (chunk=1.3): passed"], failures={"disk-w2-x-slideshow": "RenderFailed: boom\ntrace"},
    )  # fmt: skip
    assert text.startswith("# renderbench results\n")
    assert "- cores: 2" in text
    # A report re-drawn from pytest-benchmark's JSON shows its time as the run wrote it.
    assert "Run: 2026-01-01T10:00:00+00:00\n" in report.markdown(ROWS, when="2026-01-01T10:00:00.482952+00:00")
    assert "Run: sometime\n" in report.markdown(ROWS, when="sometime")
    assert "- slideshow (full, libx264:medium:23): chunk with 2 workers - 8.00 fps, 1.60x baseline" in text
    assert "| renderer | workers | encoder | workload | fps | x ref | CPU % | peak RSS | valid |" in text
    assert "| chunk | 2 | libx264:medium:23 | slideshow | 8.00 | 1.60x | 50 | 1.5 GiB | yes |" in text
    assert "## fps gates\n\n- min speedup (chunk=1.3): passed" in text
    assert "pipe-w2-libx264:medium:23-slideshow: INVALID\n    - has 299 frames, expected 300" in text
    assert "- disk-w2-x-slideshow: RenderFailed: boom\n" in text
    assert "![a](plots/a.png)" in text


def test_executor_column_only_when_one_is_not_local() -> None:
    assert "chunk (dask)" in "\n".join(report.format_table([*ROWS, row("chunk", 2, 7.0, executor="dask")]))
    assert "(local)" not in "\n".join(report.format_table(ROWS))


def test_cpu_bound_limit_and_plots(tmp_path: Path) -> None:
    group = [r for r in ROWS if r.workload == "slideshow"]
    # reference wall 60 s, cheapest valid case 60 CPU-s: 1x per core, whatever the workers
    # (one worker and its encoder already use more than one core).
    assert cpu_bound_limit(group, cores=2) == pytest.approx(2.0)
    assert cpu_bound_limit(group, cores=16) == pytest.approx(16.0)
    assert cpu_bound_limit([r for r in group if not r.is_reference], cores=2) is None
    written = write_plots(ROWS, tmp_path, cores=2)
    assert sorted(p.name for p in written) == sorted(
        f"{w}-full-libx264_medium_23-{kind}.png" for w in ("slideshow", "explainer") for kind in ("fps", "speedup", "cpu")
    )
    for path in written:
        assert path.read_bytes()[:4] == b"\x89PNG" and path.stat().st_size > 5000


def saved(tmp_path: Path, rows: list[Row], name: str = "run.json") -> Path:
    benchmarks = [{"name": f"test_render[{r.case_id}]", "fullname": f"suite.py::test_render[{r.case_id}]",
                   "extra_info": {**r.__dict__, "fps_all": list(r.fps_all), "problems": list(r.problems),
                                  "stages": dict(r.stages), "machine": {"cores": 2}}} for r in rows]  # fmt: skip
    benchmarks.append({"name": "test_other", "extra_info": {}})  # not a renderbench case
    path = tmp_path / name
    path.write_text(json.dumps({"machine_info": {}, "benchmarks": benchmarks, "datetime": "2026-01-01T00:00:00"}))
    return path


def test_load_run_round_trips_rows(tmp_path: Path) -> None:
    run = load_run(saved(tmp_path, ROWS))
    assert [(r.renderer, r.workers, r.fps, r.valid, r.speedup) for r in run.rows] == [
        (r.renderer, r.workers, r.fps, r.valid, r.speedup) for r in ROWS
    ]
    assert run.rows[3].problems == ("has 299 frames, expected 300",)
    assert run.machine == {"cores": 2} and run.datetime == "2026-01-01T00:00:00"


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such results file"), ("{", "not a readable JSON file"), ('{"x": 1}', "no 'benchmarks' list")],
    ids=["missing", "broken", "not-benchmark"],
)
def test_load_run_errors(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ResultsError, match=message):
        load_run(path)


def test_latest_saved(tmp_path: Path) -> None:
    folder = tmp_path / "Linux-CPython-3.11-64bit"
    assert latest_saved(tmp_path, folder.name) is None
    folder.mkdir()
    for name in ("0001_a.json", "0010_b.json", "0002_c.json", "notes.json"):
        (folder / name).write_text("{}")
    assert latest_saved(tmp_path, folder.name) == folder / "0010_b.json"
