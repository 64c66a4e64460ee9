"""The renderbench command: run (for real, tiny), report and compare on saved JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import build_parser, main, pytest_args, suite_path
from harness.results import load_run


def test_subcommands_and_run_arguments() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert commands is not None and list(commands) == [
        "run", "report", "compare", "render", "exec", "manim", "history",
    ]  # fmt: skip
    args = parser.parse_args(["run", "--preset", "smoke", "--workers", "1,2", "--min-speedup", "chunk=1.2",
                              "--results-dir", "out", "--", "-x", "-k", "chunk"])  # fmt: skip
    assert pytest_args(args) == [
        str(suite_path()), "-p", "no:cacheprovider", "-ra", "--renderbench-results-dir=out",
        "--benchmark-json=out/benchmark.json", "--benchmark-autosave", "--benchmark-storage=file://out/history",
        "--renderbench-workers=1,2", "--renderbench-preset=smoke", "--renderbench-min-speedup=chunk=1.2",
        "-x", "-k", "chunk",
    ]  # fmt: skip


def test_run_report_compare_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    code = main(["run", "--preset", "smoke", "--workloads", "frame_index", "--renderers", "baseline",
                 "--rounds", "1", "--results-dir", str(results)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "winner frame_index (smoke, libx264:medium:23): baseline" in out
    saved = results / "benchmark.json"
    (row,) = load_run(saved).rows
    assert (row.renderer, row.workload, row.frames, row.valid) == ("baseline", "frame_index", 30, True)
    assert len(list((results / "history").glob("*/0001_*.json"))) == 1
    assert (results / "report.md").is_file() and len(list((results / "plots").glob("*.png"))) == 3

    # report: re-drawn from the JSON alone, into another folder
    (results / "report.md").unlink()
    redrawn = tmp_path / "redrawn"
    assert main(["report", str(saved), "--results-dir", str(redrawn)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["renderer", "workers"]
    assert "winner frame_index (smoke, libx264:medium:23): baseline" in out
    assert "| baseline | 1 | libx264:medium:23 | frame_index |" in (redrawn / "report.md").read_text()
    assert len(list((redrawn / "plots").glob("*.png"))) == 3

    # compare: a planted 50 % drop in one round cannot be significant, and inconclusive fails
    # unless allowed to pass; the same run passes
    data = json.loads(saved.read_text())
    info = data["benchmarks"][0]["extra_info"]
    info["fps"] /= 2
    info["fps_all"] = [fps / 2 for fps in info["fps_all"]]
    halved = tmp_path / "halved.json"
    halved.write_text(json.dumps(data))
    assert main(["compare", str(saved), str(halved), "--max-fps-drop", "10"]) == 1
    out = capsys.readouterr().out
    assert "fps dropped more than 10 % (or may have) in 1 case(s):" in out
    assert "baseline-w1-libx264:medium:23-frame_index: inconclusive: fps" in out and "(-50.0 %, allowed -10 %;" in out
    assert "1 and 1 rounds cannot reach p < 0.05" in out
    assert main(["compare", str(saved), str(halved), "--max-fps-drop", "10", "--inconclusive", "pass"]) == 0
    capsys.readouterr()
    assert main(["compare", str(saved), str(saved), "--max-fps-drop", "10"]) == 0
    assert "no case lost more than 10 % fps" in capsys.readouterr().out


def test_unreadable_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "none.json")]) == 2
    assert "none.json: no such results file" in capsys.readouterr().err
    empty = tmp_path / "empty.json"
    empty.write_text('{"benchmarks": []}')
    assert main(["report", str(empty)]) == 2
    assert "no renderbench cases in" in capsys.readouterr().err
    assert main(["compare", str(empty), str(tmp_path / "none.json")]) == 2
    with pytest.raises(SystemExit) as exited:
        main(["compare", str(empty), str(empty), "--max-fps-drop", "120"])
    assert exited.value.code == 2
    assert main(["compare", str(empty), str(empty), "--max-fps-drop", "10", "--significance", "2"]) == 2
    assert "significance: 2 must be between 0 and 0.5" in capsys.readouterr().err
