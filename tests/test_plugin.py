"""The pytest plugin end to end, through pytester: a test module in a temp dir, pytest run on it.

Fake renderers (tests/plugin_fakes.py) write real tiny files, so the plugin's bookkeeping,
validation, JSON, report, plots and gates are exercised in seconds; one test at the end runs
the packaged benchmark with the real baseline on a tiny slideshow.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

# Runs in this process drop the modules they import when they end, but the executor registry
# keeps the executor classes it loaded: load the local one here, so that every run shares one
# copy of it (a forkserver worker's function is pickled by its module's name).
import impls.runtime.local  # noqa: F401
from impls.model.results import Row
from tests import plugin_fakes

pytest_plugins = ["pytester"]

CONFTEST = """
from tests import plugin_fakes

def pytest_configure(config):
    plugin_fakes.register()

def pytest_unconfigure(config):
    plugin_fakes.unregister()
"""

FAKE_MODULE = """
import pytest
from tests.plugin_fakes import TINY

@pytest.mark.renderbench(source=TINY, workload="tiny", reference="fake-ref", mode="{mode}")
def test_render(renderbench_case, render_and_measure):
    render_and_measure(renderbench_case)
"""

SUITE_MODULE = """
import pytest

@pytest.mark.renderbench
def test_render(renderbench_case, render_and_measure):
    render_and_measure(renderbench_case)
"""

FAST = ["--renderbench-rounds=1", "-p", "no:cacheprovider"]


@pytest.fixture
def fakes(pytester: pytest.Pytester) -> pytest.Pytester:
    """A test module benchmarking the fakes, outputs validated for real (quality mode)."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_fake=FAKE_MODULE.replace("{mode}", "auto"))
    return pytester


@pytest.fixture
def quick_fakes(pytester: pytest.Pytester) -> pytest.Pytester:
    """The same with structural validation only (gate tests: ~1 s less per case)."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_fake=FAKE_MODULE.replace("{mode}", "none"))
    return pytester


def _lines(*patterns: str) -> list[str]:
    """fnmatch patterns in which [ and ] are themselves (as in test ids and live lines)."""
    return [p.replace("[", "[[]") for p in patterns]


def _json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _infos(path: Path) -> dict[str, dict[str, Any]]:
    return {b["extra_info"]["renderer"] + f"-w{b['extra_info']['workers']}": b["extra_info"] for b in _json(path)["benchmarks"]}


def test_help_shows_every_option_with_its_default(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "renderbench: benchmark and validate video renderers:",
            "*--renderbench-renderers=NAMES*",
            "*--renderbench-workers=COUNTS*",
            "*Default: the preset's",
            "*--renderbench-encoders=SPECS*",
            "*--renderbench-workloads=NAMES*",
            "*--renderbench-preset=NAME*",
            "*--renderbench-executors=NAMES*",
            "*--renderbench-rounds=N*",
            "*--renderbench-warmup=N*",
            "*--renderbench-interleave=on|off*",
            "*--renderbench-lossless*",
            "*--renderbench-results-dir=DIR*",
            "*--renderbench-min-speedup=RULES*",
            "*--renderbench-max-fps-drop=PERCENT*",
            "*--renderbench-compare=*PATH*",
            "*--renderbench-significance=ALPHA*",
            "*--renderbench-inconclusive=fail|pass*",
            "*renderbench_workers (string)*",
            "*renderbench_lossless (bool)*",
        ]
    )
    assert result.ret == 0


def test_matrix_ids_unsupported_pairs_absent(fakes: pytest.Pytester) -> None:
    fakes.makepyfile(test_suite=SUITE_MODULE)
    result = fakes.runpytest(
        "test_suite.py", "--collect-only", "-q",
        "--renderbench-renderers=fake,fake-manim", "--renderbench-workers=2,1,2",
        "--renderbench-workloads=slideshow,explainer", "--renderbench-preset=smoke",
        "--renderbench-encoders=libx264:medium:23,libx264:veryfast:28", "--renderbench-rounds=1",
    )  # fmt: skip
    ids = [line.split("[", 1)[1].rstrip("]") for line in result.stdout.lines if line.startswith("test_suite.py::")]
    assert ids == [
        # references first within each workload x encoder, workers deduplicated and sorted
        "baseline-w1-libx264:medium:23-slideshow",
        "fake-w1-libx264:medium:23-slideshow",
        "fake-w2-libx264:medium:23-slideshow",
        "baseline-w1-libx264:veryfast:28-slideshow",
        "fake-w1-libx264:veryfast:28-slideshow",
        "fake-w2-libx264:veryfast:28-slideshow",
        "manim-serial-w1-libx264:medium:23-explainer",
        "fake-manim-w1-libx264:medium:23-explainer",
        "fake-manim-w2-libx264:medium:23-explainer",
        "manim-serial-w1-libx264:veryfast:28-explainer",
        "fake-manim-w1-libx264:veryfast:28-explainer",
        "fake-manim-w2-libx264:veryfast:28-explainer",
    ]
    # A Manim-only renderer gets no slideshow case and a MoviePy one no explainer case.
    assert not [i for i in ids if i.startswith("fake-manim") and i.endswith("slideshow")]


def test_absent_encoder_and_unavailable_renderer_are_skipped_with_reasons(fakes: pytest.Pytester) -> None:
    result = fakes.runpytest(
        "-rs", *FAST, "--renderbench-renderers=fake-gpu,fake",
        "--renderbench-workers=1", "--renderbench-encoders=nosuchcodec",
    )  # fmt: skip
    result.stdout.fnmatch_lines(
        [
            "*SKIPPED*nosuchcodec:medium:23: encoder 'nosuchcodec' is not available in this ffmpeg*",
        ]
    )
    assert result.parseoutcomes() == {"skipped": 3}

    result = fakes.runpytest("-rs", *FAST, "--renderbench-renderers=fake-gpu", "--renderbench-workers=1")
    result.stdout.fnmatch_lines(["*SKIPPED*needs a GPU this machine lacks*"])
    assert result.parseoutcomes() == {"passed": 1, "skipped": 1}  # the reference still runs


def test_json_has_the_extra_info_fields_and_results_are_written(fakes: pytest.Pytester) -> None:
    result = fakes.runpytest(
        "--renderbench-rounds=2", "-p", "no:cacheprovider", "--renderbench-renderers=fake",
        "--renderbench-workers=1,2", "--benchmark-json=out.json", "--renderbench-results-dir=res",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*renderbench*",
            "renderer*workers*encoder*workload*fps*x ref*CPU %*peak RSS*valid*",
            "fake *2*libx264:medium:23*tiny*yes*",
            "fake-ref *1*1.00x*yes*",
            "winner tiny (custom, libx264:medium:23): fake with * worker*",
        ]
    )
    infos = _infos(fakes.path / "out.json")
    assert set(infos) == {"fake-ref-w1", "fake-w1", "fake-w2"}
    for info in infos.values():
        assert {f.name for f in dataclasses.fields(Row)} - {"name", "path"} <= set(info)
        assert info["encoder"] == "libx264:medium:23"
        assert (info["workload"], info["preset"], info["executor"]) == ("tiny", "custom", "local")
        assert info["frames"] == 12 and info["valid"] is True and info["problems"] == []
        assert len(info["fps_all"]) == 2 and min(info["fps_all"]) <= info["fps"] <= max(info["fps_all"])
        assert 0 <= info["cpu_util"] <= 1 and info["cpu_seconds"] >= 0 and info["peak_rss"] > 0
        assert set(info["stages"]) == {"sleep", "encode", "on_local"}
        assert {"cores", "cpu_model", "ffmpeg", "ffmpeg_path", "moviepy", "manim", "python", "platform"} <= set(info["machine"])
    ref = infos["fake-ref-w1"]
    assert ref["speedup"] == 1.0 and ref["reference"] == "fake-ref"
    # fake sleeps 0.02 s where fake-ref sleeps 0.4 s: clearly faster, whatever the noise
    assert infos["fake-w1"]["speedup"] == pytest.approx(infos["fake-w1"]["fps"] / ref["fps"])
    assert infos["fake-w1"]["speedup"] > 1.5

    report = (fakes.path / "res" / "report.md").read_text()
    assert "## Winners" in report and "- tiny (custom, libx264:medium:23): fake with" in report
    assert "| fake-ref | 1 | libx264:medium:23 | tiny |" in report
    plots = sorted(p.name for p in (fakes.path / "res" / "plots").iterdir())
    assert plots == [
        "tiny-custom-libx264_medium_23-cpu.png",
        "tiny-custom-libx264_medium_23-fps.png",
        "tiny-custom-libx264_medium_23-speedup.png",
    ]
    for name in plots:
        assert (fakes.path / "res" / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(plots/{name})" in report


def test_report_shows_the_fast_path_state_and_the_cpu_split(quick_fakes: pytest.Pytester) -> None:
    """Per case: the fast path on, off (and why) or not applicable (the reference, which has
    none), and the CPU per frame of making frames, decoding and encoding, in the JSON, the
    terminal summary and report.md."""
    fakes = quick_fakes
    result = fakes.runpytest(
        *FAST, "--renderbench-renderers=fake-fast,fake-unchecked", "--renderbench-workers=1",
        "--benchmark-json=out.json", "--renderbench-results-dir=res",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "renderer*CPU %*frame ms/f*decode ms/f*encode ms/f*peak RSS*fast path*valid*",
            "fake-fast *on*yes*",
            "fake-unchecked *off*yes*",
            "fake-ref *-*yes*",
            "fake-unchecked-w1-libx264:medium:23-tiny: fast path off: nothing in this clip",
            "where the CPU goes: tiny (custom, libx264:medium:23), * with 1 worker: CPU per frame * ms making "
            "frames (*), * ms decoding (*), * ms encoding (*)*; lever: *",
        ]
    )
    infos = _infos(fakes.path / "out.json")
    assert [infos[name]["fast_path"] for name in ("fake-ref-w1", "fake-fast-w1", "fake-unchecked-w1")] == [
        None, "on", "off: nothing in this clip",
    ]  # fmt: skip
    for info in infos.values():
        split = info["cpu_split"]
        assert set(split) == {"frame", "decode", "encode", "other"}
        assert sum(split.values()) == pytest.approx(info["cpu_seconds"], abs=0.05)
        # Each fake's ffmpeg lives some tens of ms: a sample names it an encoder, or it ends
        # between two samples and its CPU counts as other (harness.measure); never lost.
        assert split["encode"] + split["other"] > 0
    assert any(info["cpu_split"]["encode"] > 0 for info in infos.values())
    report = (fakes.path / "res" / "report.md").read_text()
    assert "| frame ms/f | decode ms/f | encode ms/f | peak RSS | fast path | valid |" in report
    assert "- fake-unchecked-w1-libx264:medium:23-tiny: fast path off: nothing in this clip" in report
    assert "## Where the CPU goes" in report


def test_invalid_output_fails_its_case_and_never_wins(fakes: pytest.Pytester) -> None:
    result = fakes.runpytest(
        *FAST, "--renderbench-renderers=fake-wrong,fake-slow", "--renderbench-workers=1",
        "--benchmark-json=out.json", "--renderbench-results-dir=res",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 1 and outcomes["passed"] == 2
    result.stdout.fnmatch_lines(
        [
            "*ValidationFailed*fake-wrong-w1-libx264:medium:23-tiny output is invalid*",
            "*has 11 frames, expected 12*",
            "fake-wrong*NO (*problems)*",
            # fake-wrong is the fastest; fake-slow (slower than the reference) does not win either
            "winner tiny (custom, libx264:medium:23): fake-ref - no renderer beat the reference*",
            "fake-wrong-w1-libx264:medium:23-tiny: INVALID",
        ]
    )
    info = _infos(fakes.path / "out.json")["fake-wrong-w1"]
    assert info["valid"] is False
    assert any("has 11 frames, expected 12" in p for p in info["problems"])
    kept = [p for p in info["problems"] if "the invalid output is kept as" in p]
    assert kept and Path(kept[0].rsplit(" ", 1)[1]).is_file()
    assert "## Invalid outputs" in (fakes.path / "res" / "report.md").read_text()


def _verdicts(path: Path) -> list[dict[str, Any]]:
    verdicts: list[dict[str, Any]] = _json(path)["renderbench"]["verdicts"]
    return verdicts


def test_min_speedup_gate_gives_a_verdict_per_rule_from_paired_rounds(quick_fakes: pytest.Pytester) -> None:
    fakes = quick_fakes
    args = ["-p", "no:cacheprovider", "--renderbench-renderers=fake,fake-slow", "--renderbench-workers=1"]
    # fake sleeps 0.02 s where fake-ref sleeps 0.4 s, fake-slow 0.8 s; their ffmpeg's time varies
    # with the machine's load, so the thresholds leave room for a loaded machine.
    gate = "--renderbench-min-speedup=fake=1.2,fake-slow=1.2"
    failed = fakes.runpytest(*args, "--renderbench-rounds=4", gate, "--benchmark-json=out.json")
    assert failed.ret == pytest.ExitCode.TESTS_FAILED
    assert failed.parseoutcomes() == {"passed": 12}  # every round passed: the gate failed the session
    failed.stdout.fnmatch_lines(
        [
            "min speedup (fake=1.2, fake-slow=1.2): 95 % confidence intervals of the speedups paired by round, 4 interleaved rounds:",
            "  rule * case * rounds * speedup * 95 % interval * required * verdict",
            "  fake=1.2 * fake-w1-libx264:medium:23-tiny * 4 *x *x-*x * 1.2x * pass",
            "  fake-slow=1.2 * fake-slow-w1-libx264:medium:23-tiny * 4 * 0.*x * 0.*x-*x * 1.2x * fail",
            "renderbench fps gate FAILED, 1 regression(s):",
            "  - fake-slow=1.2 on tiny (custom, libx264:medium:23): fail: speedup 0.*x (w1, 95 % interval 0.*x-*x over 4 paired rounds) < required 1.2x",
        ]
    )
    recorded = {v["subject"].split(" on ")[0]: v for v in _verdicts(fakes.path / "out.json")}
    assert {k: v["outcome"] for k, v in recorded.items()} == {"fake=1.2": "pass", "fake-slow=1.2": "fail"}
    assert recorded["fake=1.2"]["low"] >= 1.2 and recorded["fake-slow=1.2"]["high"] < 1.2
    assert recorded["fake=1.2"]["rounds"] == 4

    # One round has no spread: inconclusive, which fails by default and passes when asked to.
    one = ["-p", "no:cacheprovider", "--renderbench-renderers=fake", "--renderbench-workers=1", "--renderbench-rounds=1"]
    undecided = fakes.runpytest(*one, "--renderbench-min-speedup=fake=1.5")
    assert undecided.ret == pytest.ExitCode.TESTS_FAILED
    undecided.stdout.fnmatch_lines(
        [
            "  fake=1.5 * 1 *x * - * 1.5x * inconclusive",
            "  - fake=1.5 on tiny (custom, libx264:medium:23): inconclusive: speedup *x (w1) from 1 round: no spread to judge it by*",
            "inconclusive verdicts count as failures (--renderbench-inconclusive=fail)",
        ]
    )
    allowed = fakes.runpytest(*one, "--renderbench-min-speedup=fake=1.5", "--renderbench-inconclusive=pass")
    assert allowed.ret == pytest.ExitCode.OK
    allowed.stdout.fnmatch_lines(
        ["renderbench fps gate passed", "  - fake=1.5 on tiny *: inconclusive: * (counted as a pass: --renderbench-inconclusive=pass)"]
    )


def _scaled(path: Path, factor: float) -> Path:
    data = _json(path)
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        info["fps"] *= factor
        info["fps_all"] = [fps * factor for fps in info["fps_all"]]
    out = path.with_name(f"scaled-{factor}.json")
    out.write_text(json.dumps(data))
    return out


def test_fps_drop_gate_against_a_saved_run(quick_fakes: pytest.Pytester) -> None:
    fakes = quick_fakes
    # 4 rounds per run: the fewest with which a rank test can reach p < 0.05.
    args = ["-p", "no:cacheprovider", "--renderbench-renderers=fake", "--renderbench-workers=1", "--renderbench-rounds=4"]
    first = fakes.runpytest(*args, "--benchmark-autosave", "--benchmark-storage=file://history", "--benchmark-json=first.json")
    assert first.ret == 0

    # A planted regression: the saved run claims 10x the fps in every round.
    faster_before = _scaled(fakes.path / "first.json", 10.0)
    failed = fakes.runpytest(*args, "--renderbench-max-fps-drop=20", f"--renderbench-compare={faster_before}")
    assert failed.ret == pytest.ExitCode.TESTS_FAILED
    failed.stdout.fnmatch_lines(
        [
            "max fps drop 20 % vs *scaled-10.0.json: a larger drop fails when significant at 0.05 (Mann-Whitney U over the rounds of both runs):",
            "  case * rounds * fps saved * fps now * change * p * verdict",
            "  fake-ref-w1-libx264:medium:23-tiny * 4/4 * -* % * 0.0286 * fail",
            "renderbench fps gate FAILED, 2 regression(s):",
            "  - fake-ref-w1-libx264:medium:23-tiny: fail: fps * vs * saved (-*, allowed -20 %; rank test p=0.0286 over 4 and 4 rounds): a significant drop",
            "  - fake-w1-libx264:medium:23-tiny: fail: *",
        ]
    )

    # Without a path: the latest autosave of this machine (read before this run saves its own).
    # The same cases, so fps moves by noise only: far below the planted 90 %.
    latest = fakes.runpytest(
        *args[:-1], "--renderbench-rounds=1", "--renderbench-max-fps-drop=60", "--renderbench-compare",
        "--benchmark-storage=file://history", "--benchmark-autosave", "--renderbench-inconclusive=pass",
    )  # fmt: skip
    assert latest.ret == 0, latest.stdout.str()
    latest.stdout.fnmatch_lines(["fps against *0001_*.json:", "  fake-w1-*", "renderbench fps gate passed"])
    assert len(list((fakes.path / "history").glob("*/000[12]_*.json"))) == 2

    missing = fakes.runpytest(*args, "--renderbench-compare=nothere.json")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(["*--renderbench-compare: nothere.json: no such results file*"])


def test_rounds_are_interleaved_and_folded_into_one_benchmark_per_case(quick_fakes: pytest.Pytester) -> None:
    fakes = quick_fakes
    args = ["-p", "no:cacheprovider", "--renderbench-renderers=fake", "--renderbench-workers=1,2", "--renderbench-rounds=3"]
    collected = fakes.runpytest(*args, "--collect-only", "-q")
    ids = [line.split("[", 1)[1].rstrip("]") for line in collected.stdout.lines if "::" in line]
    one_round = ["fake-ref-w1-libx264:medium:23-tiny", "fake-w1-libx264:medium:23-tiny", "fake-w2-libx264:medium:23-tiny"]
    assert ids == [*one_round, *(f"{i}-round2" for i in one_round), *(f"{i}-round3" for i in one_round)]
    back_to_back = fakes.runpytest(*args, "--renderbench-interleave=off", "--collect-only", "-q")
    ids = [line.split("[", 1)[1].rstrip("]") for line in back_to_back.stdout.lines if "::" in line]
    assert ids == [f"{case}{suffix}" for case in one_round for suffix in ("", "-round2", "-round3")]

    result = fakes.runpytest(*args, "--renderbench-workers=1", "--benchmark-json=out.json")
    assert result.ret == 0, result.stdout.str()
    # The live lines, in the order the rounds ran: the reference first in every round.
    result.stdout.fnmatch_lines(
        _lines(
            "renderbench: preset full, 3 interleaved rounds, workers 1, *",
            "renderbench [1/6] fake-ref-w1-libx264:medium:23-tiny round 1/3 ...",
            "renderbench [1/6] fake-ref-w1-libx264:medium:23-tiny round 1/3: * fps, reference, valid (*) | * elapsed, ETA *",
            "renderbench [2/6] fake-w1-libx264:medium:23-tiny round 1/3: * fps, *x ref, valid (*) | *",
            "renderbench [3/6] fake-ref-w1-libx264:medium:23-tiny round 2/3: *",
            "renderbench [4/6] fake-w1-libx264:medium:23-tiny round 2/3: *",
            "renderbench [6/6] fake-w1-libx264:medium:23-tiny round 3/3: * | * in all",
        )
    )
    assert not [line for line in result.stdout.lines if line.startswith("test_fake.py")]  # no dots
    data = _json(fakes.path / "out.json")
    names = sorted(b["name"] for b in data["benchmarks"])
    assert names == ["test_render[fake-ref-w1-libx264:medium:23-tiny]", "test_render[fake-w1-libx264:medium:23-tiny]"]
    for bench in data["benchmarks"]:
        assert bench["stats"]["rounds"] == 3 and len(bench["stats"]["data"]) == 3
        assert len(bench["extra_info"]["fps_all"]) == 3
    block = data["renderbench"]
    assert block["interleaved"] is True and block["rounds"] == 3 and block["verdicts"] == []
    (paired,) = block["paired_speedups"].values()
    assert len(paired) == 3 and min(paired) > 1.5  # fake sleeps 0.02 s where fake-ref sleeps 0.4 s


def test_warm_up_renders_come_before_the_first_round_untimed(quick_fakes: pytest.Pytester) -> None:
    fake = next(f for f in plugin_fakes.FAKES if f.name == "fake")
    before = fake.renders
    result = quick_fakes.runpytest(
        "-p", "no:cacheprovider", "--renderbench-renderers=fake", "--renderbench-workers=1",
        "--renderbench-rounds=2", "--renderbench-warmup=2", "--benchmark-json=out.json",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["renderbench: preset full, 2 interleaved rounds after 2 warm-up renders, *"])
    assert fake.renders - before == 4
    data = _json(quick_fakes.path / "out.json")
    assert data["renderbench"]["warmup"] == 2
    for bench in data["benchmarks"]:
        assert bench["stats"]["rounds"] == 2 and len(bench["extra_info"]["fps_all"]) == 2


def test_a_failed_round_skips_the_cases_later_rounds(quick_fakes: pytest.Pytester) -> None:
    result = quick_fakes.runpytest(
        "-p", "no:cacheprovider", "-rs", "--renderbench-renderers=fake-broken", "--renderbench-workers=1",
        "--renderbench-rounds=2",
    )  # fmt: skip
    assert result.parseoutcomes() == {"passed": 2, "failed": 1, "skipped": 1}
    result.stdout.fnmatch_lines(
        _lines(
            "renderbench [2/4] fake-broken-w1-libx264:medium:23-tiny round 1/2: FAILED (*",
            "renderbench [4/4] fake-broken-w1-libx264:medium:23-tiny round 2/2: SKIPPED (*",
            "fake-broken-w1-libx264:medium:23-tiny: FAILED RuntimeError: fake-broken breaks on purpose",
            "SKIPPED [1] *: an earlier round of fake-broken-w1-libx264:medium:23-tiny failed",
        )
    )


def test_live_lines_follow_verbosity(quick_fakes: pytest.Pytester) -> None:
    fakes = quick_fakes
    reference_only = [*FAST, "--renderbench-renderers=fake-ref", "--renderbench-workers=1"]
    quiet = fakes.runpytest(*reference_only, "-q")
    assert quiet.ret == 0
    assert not [line for line in quiet.stdout.lines if line.startswith("renderbench [")]
    blocked = fakes.runpytest(*reference_only, "-p", "no:renderbench-live")
    assert blocked.ret == 0
    assert not [line for line in blocked.stdout.lines if line.startswith("renderbench [")]
    verbose = fakes.runpytest(*FAST, "--renderbench-renderers=fake", "--renderbench-workers=1", "-v")
    verbose.stdout.fnmatch_lines(
        _lines(
            "test_fake.py::test_render[fake-ref-w1-libx264:medium:23-tiny] PASSED*",
            "renderbench [1/2] fake-ref-w1-libx264:medium:23-tiny: * fps, reference, valid*",
            "test_fake.py::test_render[fake-w1-libx264:medium:23-tiny] PASSED*",
            "renderbench [2/2] fake-w1-libx264:medium:23-tiny: * fps, *x ref, valid*",
        )
    )


def test_ini_values_apply_and_the_command_line_wins_and_executors_reach_the_job(quick_fakes: pytest.Pytester) -> None:
    fakes = quick_fakes
    fakes.makeini(
        """
        [pytest]
        renderbench_renderers = fake
        renderbench_workers = 1,2
        renderbench_executors = local,dask
        renderbench_rounds = 1
        """
    )
    result = fakes.runpytest("--collect-only", "-q")
    assert [line.split("[")[1] for line in result.stdout.lines if "::" in line] == [
        "fake-ref-w1-libx264:medium:23-tiny]",
        "fake-w1-libx264:medium:23-tiny]",
        "fake-w2-libx264:medium:23-tiny]",
        "fake-w1-libx264:medium:23-tiny-dask]",
        "fake-w2-libx264:medium:23-tiny-dask]",
    ]
    result = fakes.runpytest("-p", "no:cacheprovider", "--renderbench-workers=2", "--benchmark-json=out.json")
    assert result.ret == 0, result.stdout.str()
    benchmarks = _json(fakes.path / "out.json")["benchmarks"]
    got = {(b["extra_info"]["renderer"], b["extra_info"]["workers"], b["extra_info"]["executor"]) for b in benchmarks}
    assert got == {("fake-ref", 1, "local"), ("fake", 2, "local"), ("fake", 2, "dask")}
    for bench in benchmarks:
        assert f"on_{bench['extra_info']['executor']}" in bench["extra_info"]["stages"]


def test_timing_is_refused_under_xdist(fakes: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    result = fakes.runpytest("-rs", *FAST, "--renderbench-renderers=fake", "--renderbench-workers=1")
    result.stdout.fnmatch_lines(["*SKIPPED*renderbench does not time cases under pytest-xdist*"])
    assert result.parseoutcomes() == {"skipped": 2}


def test_bad_options_and_marker_keywords_are_usage_errors(fakes: pytest.Pytester) -> None:
    result = fakes.runpytest("--renderbench-workers=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*renderbench workers: 0 must be >= 1*"])

    result = fakes.runpytest("--renderbench-renderers=nosuch", "--collect-only")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*unknown renderer(s) nosuch; known: baseline, disk, *"])

    fakes.makepyfile(
        test_typo="""
        import pytest
        @pytest.mark.renderbench(worker=[1])
        def test_render(renderbench_case, render_and_measure):
            render_and_measure(renderbench_case)
        """
    )
    result = fakes.runpytest("test_typo.py", "--collect-only")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*renderbench marker has no keyword(s) worker; known: *"])


USER_MODULE = '''
import pytest
from impls import ClipSource


@pytest.mark.renderbench(source=ClipSource("myclips:title_card", {"seconds": 0.5}), renderers="baseline", workers=[1])
def test_title_card(renderbench_case, render_and_measure):
    row = render_and_measure(renderbench_case)
    assert row.valid and row.frames == 12
'''

USER_CLIPS = '''
def title_card(seconds=1.0):
    from moviepy import ColorClip
    return ColorClip((64, 48), color=(200, 40, 90), duration=seconds).with_fps(24)
'''


def test_benchmark_your_own_clip(pytester: pytest.Pytester) -> None:
    """The README's example: a user's own factory, benchmarked and validated with the real baseline."""
    pytester.makepyfile(myclips=USER_CLIPS, test_mine=USER_MODULE)
    pytester.syspathinsert()
    result = pytester.runpytest(*FAST, "--benchmark-json=mine.json")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["winner title_card (custom, libx264:medium:23): baseline*"])
    (bench,) = _json(pytester.path / "mine.json")["benchmarks"]
    assert bench["name"] == "test_title_card[baseline-w1-libx264:medium:23-title_card]"
    assert bench["extra_info"]["valid"] is True


def test_packaged_benchmark_end_to_end_on_a_tiny_slideshow(pytester: pytest.Pytester) -> None:
    """The real thing, small: the packaged module, the real baseline, a real parallel renderer."""
    from harness.cli import suite_path
    from impls.registry import RENDERERS

    parallel = "chunk"
    assert parallel in RENDERERS
    result = pytester.runpytest(
        str(suite_path()), *FAST, "--renderbench-preset=smoke", "--renderbench-workloads=slideshow",
        f"--renderbench-renderers={parallel}", "--renderbench-workers=2", "--benchmark-json=e2e.json",
        "--renderbench-results-dir=res",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    infos = _infos(pytester.path / "e2e.json")
    assert set(infos) == {"baseline-w1", f"{parallel}-w2"}
    assert all(info["valid"] for info in infos.values())
    # Quality-mode validation ran: both outputs were measured against the lossless source.
    assert infos[f"{parallel}-w2"]["frames"] == infos["baseline-w1"]["frames"] == 30
    assert (pytester.path / "res" / "report.md").is_file()
