"""Report, plots and results loading on canned rows: pure functions, no renders."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from harness import report
from harness.plot import cpu_bound_limit, write_plots
from harness.results import ResultsError, fill_speedups, latest_saved, load_run
from harness.runner import fast_path_state
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


# A run with the CPU split and the fast path: 300 frames each.
SPLIT_ROWS = fill_speedups(
    [
        row("baseline", 1, 5.0, cpu_util=0.55, cpu_split={"frame": 90.0, "decode": 3.0, "encode": 27.0, "other": 0.3}),
        row("pipe", 2, 9.0, cpu_util=0.97, fast_path="on",
            cpu_split={"frame": 36.0, "decode": 3.0, "encode": 30.0, "other": 0.3}),
        row("chunk", 2, 8.0, cpu_util=0.96, fast_path="off: turned off (option fast_path=False)",
            cpu_split={"frame": 90.0, "decode": 3.0, "encode": 24.0, "other": 0.0}),
    ]
)  # fmt: skip


def test_report_shows_the_fast_path_and_the_cpu_split() -> None:
    text = report.markdown(SPLIT_ROWS)
    assert (
        "| renderer | workers | encoder | workload | fps | x ref | CPU % | frame ms/f | decode ms/f | encode ms/f "
        "| peak RSS | fast path | valid |"
    ) in text  # no "other ms/f": no case spent 5 % of its CPU there
    assert "| pipe | 2 | libx264:medium:23 | slideshow | 9.00 | 1.80x | 97 | 120.0 | 10.0 | 100.0 | 1.5 GiB | on | yes |" in text
    assert "| chunk | 2 | libx264:medium:23 | slideshow | 8.00 | 1.60x | 96 | 300.0 | 10.0 | 80.0 | 1.5 GiB | off | yes |" in text
    assert "| baseline | 1 | libx264:medium:23 | slideshow | 5.00 | 1.00x | 55 | 300.0 | 10.0 | 90.0 | 1.5 GiB | - | yes |" in text
    assert "- chunk-w2-libx264:medium:23-slideshow: fast path off: turned off (option fast_path=False)" in text
    assert "## Where the CPU goes" in text
    assert (
        "- slideshow (full, libx264:medium:23), pipe with 2 workers: CPU per frame 120.0 ms making frames "
        "(52 %), 10.0 ms decoding (4 %), 100.0 ms encoding (43 %), 1.0 ms other (0 %); 97 % of all cores "
        "busy; lever: the composition: making its frames costs most"
    ) in text
    lines = report.format_table(SPLIT_ROWS)
    assert lines[0].split()[9:18] == ["frame", "ms/f", "decode", "ms/f", "encode", "ms/f", "peak", "RSS", "fast"]


def test_the_lever() -> None:
    pipe, baseline = SPLIT_ROWS[1], SPLIT_ROWS[0]
    assert report.lever(baseline).startswith("the cores: 55 % of them were busy")
    encode_bound = replace(pipe, cpu_split={"frame": 10.0, "decode": 1.0, "encode": 50.0})
    assert report.lever(encode_bound).startswith("the encoder")
    assert report.lever(replace(pipe, cpu_split={"frame": 5.0, "decode": 40.0, "encode": 20.0})).startswith("the source media")
    assert report.lever(replace(pipe, cpu_split={})) == ""


def test_other_column_only_where_it_matters() -> None:
    unnamed = replace(SPLIT_ROWS[1], cpu_split={"frame": 36.0, "decode": 0.0, "encode": 30.0, "other": 6.0})
    assert "other ms/f" in report.format_table([unnamed])[0]
    assert "other ms/f" not in report.format_table(SPLIT_ROWS)[0]


def test_a_clip_object_is_compared_with_its_factory_round_by_round() -> None:
    # Walls per round: factory 50, 40, 45 s; object 52, 41, 44 s (300 frames each).
    factory = row("chunk", 2, 300 / 45, fps_all=(300 / 50, 300 / 40, 300 / 45))
    clip_object = row(
        "chunk", 2, 300 / 44, workload="slideshow_object", fps_all=(300 / 52, 300 / 41, 300 / 44),
        stages={"frames": 40.0, "transfer": 0.24},
    )  # fmt: skip
    lonely = row("pipe", 2, 7.0, workload="slideshow_object", fps_all=(7.0, 7.1, 6.9))  # no factory case
    ratios = [52 / 50, 41 / 40, 44 / 45]
    geometric = math.exp(statistics.fmean(math.log(r) for r in ratios))
    lines = report.object_lines([factory, clip_object, lonely])
    assert len(lines) == 1
    assert lines[0].startswith(
        f"slideshow_object (full, libx264:medium:23), chunk with 2 workers: {geometric:.2f}x the wall time "
        "of its factory (slideshow; 95 % interval "
    )
    low, high = (float(x) for x in lines[0].split("95 % interval ")[1].split("x over")[0].split("-"))
    assert low < 0.98 < 1.05 < high  # three rounds this far apart decide nothing
    assert lines[0].endswith("x over 3 paired rounds); sending the clip took 0.24 s")
    assert report.object_lines([factory]) == [] == report.object_lines([clip_object])
    single = report.object_lines([replace(factory, fps_all=(6.0,)), replace(clip_object, fps_all=(5.0,))])
    assert single[0].split(": ", 1)[1].startswith("1.20x the wall time of its factory (slideshow; 1 round, no interval)")
    text = report.markdown(fill_speedups([row("baseline", 1, 2.0), factory, clip_object]))
    assert "## Clip object against its factory" in text and f"- {lines[0]}" in text
    assert "## Clip object" not in report.markdown(ROWS)


def test_rows_without_the_split_hide_its_columns_and_round_trip(tmp_path: Path) -> None:
    header = report.format_table(ROWS)[0]
    assert "ms/f" not in header and "fast path" not in header
    run = load_run(saved(tmp_path, SPLIT_ROWS))
    assert [(r.cpu_split, r.fast_path) for r in run.rows] == [(r.cpu_split, r.fast_path) for r in SPLIT_ROWS]


def test_fast_path_state_of_a_render() -> None:
    assert fast_path_state({"fast_path": {"enabled": True, "checked_frames": [1, 2]}}) == "on"
    off = {"fast_path": {"enabled": False, "reason": "frame 3 differs from MoviePy's: 2 values differ"}}
    assert fast_path_state(off) == "off: frame 3 differs from MoviePy's: 2 values differ"
    assert fast_path_state({"workers": 1}) is None  # the baseline, Manim: no fast path
