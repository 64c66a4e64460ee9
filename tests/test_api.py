"""render(): every method, method="auto" from saved results, progress, and early errors."""

from __future__ import annotations

import io
import json
import threading
from dataclasses import replace
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.decode import probe
from impls import ClipSource, EncoderSpec, InvalidJob, InvalidSource, ManimSource, auto, render
from impls.ffmpeg.probe import count_packets
from impls.ffmpeg.process import run
from impls.machine import machine_facts, same_machine
from impls.registry import get_renderer
from impls.runtime.executor import usable_cores
from impls.runtime.progress import PROGRESS_ENV, ProgressTracker, bar_wanted

FACTORY = "harness.workloads.frame_index:make"
TINY: dict[str, Any] = {"width": 160, "height": 90, "fps": 30, "duration": 1.0}
FRAMES = 30
PARALLEL = ("disk", "pipe", "chunk")
MANIM = ("manim-serial", "manim-scenes", "manim-inflight", "manim-ranges")

SCENES_SCRIPT = '''
from manim import Circle, Create, FadeOut, Scene, Square

class One(Scene):
    def construct(self):
        self.play(Create(Square()), run_time=0.5)

class Two(Scene):
    def construct(self):
        circle = Circle()
        self.play(Create(circle), run_time=0.5)
        self.play(FadeOut(circle), run_time=0.5)
'''


def renderer_or_skip(name: str) -> None:
    """Skip only while a renderer's module is not in the tree; any other failure is a failure."""
    try:
        get_renderer(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.startswith("impls"):
            pytest.skip(f"renderer {name} is not part of this tree ({exc})")
        raise


def decoded_indices(path: Path) -> list[int]:
    from moviepy import VideoFileClip

    from harness.workloads.frame_index import decode

    clip = VideoFileClip(str(path))
    try:
        return [decode(frame) for frame in clip.iter_frames()]
    finally:
        clip.close()


@pytest.fixture
def no_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory with no saved results anywhere auto looks."""
    empty = tmp_path / "no-results"
    empty.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(auto.RESULTS_ENV, str(empty))
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    yield tmp_path


def bench_row(renderer: str, fps: float, *, valid: bool = True, workers: int = 2,
              workload: str = "frame_index", encoder: str = "libx264:medium:23",
              preset: str = "smoke", executor: str = "local",
              machine: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """One benchmark entry as pytest-benchmark saves it, with the harness's extra_info."""
    return {
        "name": f"test_render[{renderer}-{workers}]",
        "stats": {"median": 1.0 / fps},
        "extra_info": {
            "renderer": renderer, "workers": workers, "encoder": encoder, "workload": workload,
            "preset": preset, "executor": executor, "fps": fps, "speedup": 1.0, "valid": valid,
            "machine": machine_facts() if machine is None else machine,
        },
    }  # fmt: skip


def save_results(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine_info": {}, "benchmarks": rows, "version": "5.3.1"}))
    return path


def other_machine() -> dict[str, Any]:
    facts = machine_facts()
    facts["cores"] = int(facts["cores"]) + 62
    facts["cpu_model"] = "A much bigger CPU"
    return facts


# ---------------------------------------------------------------------------------------------
# Rendering with a named method


@pytest.mark.parametrize(
    "source",
    [pytest.param(FACTORY, id="string"), pytest.param(ClipSource(FACTORY, TINY), id="ClipSource")],
)
def test_baseline_renders_every_frame_in_order(no_results: Path, source: Any) -> None:
    out = no_results / "out.mp4"
    result = render(source, out, method="baseline", progress=False,
                    kwargs=TINY if isinstance(source, str) else None)  # fmt: skip
    assert result.output == out and result.frames == FRAMES
    assert count_packets(out) == FRAMES
    assert decoded_indices(out) == list(range(FRAMES))
    assert result.info["method"] == "baseline"
    assert result.info["method_reason"] == "requested"
    # The renderer itself reported every frame exactly once.
    assert result.info["progress_reported"] == FRAMES


@pytest.mark.parametrize("method", PARALLEL)
def test_parallel_method_renders_every_frame_in_order(no_results: Path, method: str) -> None:
    renderer_or_skip(method)
    out = no_results / f"{method}.mp4"
    result = render(FACTORY, out, method=method, workers=2, progress=False, kwargs=TINY)
    assert result.renderer == method and result.info["method"] == method
    assert count_packets(out) == FRAMES
    assert decoded_indices(out) == list(range(FRAMES))
    assert 0 < result.info["progress_reported"] <= FRAMES * 2
    assert [p.name for p in no_results.iterdir() if p.name.startswith(".")] == []


def test_progress_callback_receives_every_frame(no_results: Path) -> None:
    seen: list[int] = []
    result = render(FACTORY, no_results / "out.mp4", method="baseline", progress=seen.append, kwargs=TINY)
    assert sum(seen) == result.frames == FRAMES
    assert all(n > 0 for n in seen)


class _Recorder:
    """A progress callback that also wants the total, recording the order of the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def __call__(self, done: int) -> None:
        with self.lock:
            self.calls.append(("done", done))

    def set_total(self, frames: int) -> None:
        with self.lock:
            self.calls.append(("total", frames))


@pytest.mark.parametrize("method", ["baseline", *PARALLEL])
def test_the_total_is_known_before_the_first_frame(no_results: Path, method: str) -> None:
    renderer_or_skip(method)
    recorder = _Recorder()
    result = render(FACTORY, no_results / "out.mp4", method=method, workers=2, progress=recorder, kwargs=TINY)
    assert recorder.calls[0] == ("total", FRAMES)
    assert sum(n for kind, n in recorder.calls if kind == "done") == result.frames == FRAMES


def test_forced_bar_reaches_100_percent_on_stderr(
    no_results: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(PROGRESS_ENV, "1")
    render(FACTORY, no_results / "out.mp4", method="baseline", kwargs=TINY)
    captured = capsys.readouterr()
    assert "100%" in captured.err and f"{FRAMES}/{FRAMES}" in captured.err
    assert captured.out == ""


def test_no_bar_when_stderr_is_not_a_terminal(
    no_results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    render(FACTORY, no_results / "out.mp4", method="baseline", kwargs=TINY)
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------------------------------
# method="auto"


def test_auto_without_results_uses_the_documented_default(no_results: Path) -> None:
    out = no_results / "out.mp4"
    result = render(FACTORY, out, progress=False, kwargs=TINY)
    expected = next(n for n in auto.DEFAULTS["moviepy"] if n in _available_now())
    assert result.info["method"] == expected == result.renderer
    assert "no valid saved benchmark results" in result.info["method_reason"]
    assert "documented default" in result.info["method_reason"]
    assert "'chunk'" in result.info["method_reason"]
    assert decoded_indices(out) == list(range(FRAMES))


def _available_now() -> set[str]:
    names = set()
    for name in ("baseline", *PARALLEL, *MANIM):
        try:
            get_renderer(name)
        except ImportError:
            continue
        names.add(name)
    return names


def test_auto_picks_the_fastest_valid_row_of_this_machine(no_results: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The invalid row and the other machine's row are faster; neither may win.
    results = no_results / "saved"
    save_results(results / "run1.json", [
        bench_row("baseline", 40.0, workers=1),
        bench_row("chunk", 400.0, valid=False),
        bench_row("pipe", 900.0, machine=other_machine()),
        bench_row("disk", 950.0, machine=other_machine()),
    ])  # fmt: skip
    monkeypatch.setenv(auto.RESULTS_ENV, str(results))
    out = no_results / "out.mp4"
    result = render(FACTORY, out, progress=False, kwargs=TINY)
    assert result.info["method"] == "baseline" == result.renderer
    reason = result.info["method_reason"]
    assert "fastest valid renderer" in reason and "40.00 fps" in reason
    assert "1 invalid" in reason and "2 from other machines" in reason
    assert str(results / "run1.json") in reason
    assert count_packets(out) == FRAMES


@pytest.mark.parametrize("winner", PARALLEL)
def test_auto_renders_with_the_measured_winner_and_its_workers(
    no_results: Path, monkeypatch: pytest.MonkeyPatch, winner: str
) -> None:
    renderer_or_skip(winner)
    results = save_results(no_results / "saved.json", [
        bench_row("baseline", 40.0, workers=1),
        bench_row(winner, 60.0, workers=1),
        bench_row(winner, 80.0, workers=2),
        bench_row(winner, 79.0, workers=2),
    ])  # fmt: skip
    monkeypatch.setenv(auto.RESULTS_ENV, str(results))
    out = no_results / "out.mp4"
    result = render(FACTORY, out, progress=False, kwargs=TINY)
    assert result.renderer == winner == result.info["method"]
    assert result.info["requested_workers"] == 2
    assert "79.50 fps median at 2 worker(s)" in result.info["method_reason"]
    assert decoded_indices(out) == list(range(FRAMES))


def test_explicit_workers_win_over_the_measured_ones(no_results: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = save_results(no_results / "saved.json", [bench_row("baseline", 40.0, workers=3)])
    monkeypatch.setenv(auto.RESULTS_ENV, str(results))
    chosen = render(FACTORY, no_results / "a.mp4", progress=False, kwargs=TINY)
    given = render(FACTORY, no_results / "b.mp4", workers=1, progress=False, kwargs=TINY)
    assert chosen.info["requested_workers"] == 3
    assert given.info["requested_workers"] == 1


# choose() on canned results: the rules, without rendering


def _choose(tmp_path: Path, rows: list[dict[str, Any]], kind: auto.Kind = "moviepy",
            available: set[str] | None = None) -> auto.Choice:  # fmt: skip
    path = save_results(tmp_path / "r.json", rows)
    names = available if available is not None else {"baseline", *PARALLEL, *MANIM}
    return auto.choose(kind, lambda n: n in names, paths=[path])


def test_choose_takes_the_best_median_over_rounds(tmp_path: Path) -> None:
    # pipe's single lucky round is beaten by chunk's steadier median.
    choice = _choose(tmp_path, [
        bench_row("pipe", 100.0), bench_row("pipe", 20.0), bench_row("pipe", 21.0),
        bench_row("chunk", 50.0), bench_row("chunk", 49.0), bench_row("chunk", 51.0),
        bench_row("baseline", 30.0, workers=1),
    ])  # fmt: skip
    assert (choice.method, choice.workers, choice.fps) == ("chunk", 2, 50.0)
    assert choice.from_results and "vs baseline 30.00 fps, pipe 21.00 fps" in choice.reason


def test_choose_compares_within_each_workload(tmp_path: Path) -> None:
    # disk is only measured on a cheap workload with high fps; relative to each workload's best,
    # chunk wins both workloads it ran, disk is second on its only one.
    choice = _choose(tmp_path, [
        bench_row("chunk", 10.0, workload="slideshow"), bench_row("baseline", 6.0, workload="slideshow"),
        bench_row("chunk", 300.0, workload="frame_index"), bench_row("disk", 200.0, workload="frame_index"),
    ])  # fmt: skip
    assert choice.method == "chunk"


def test_choose_compares_presets_apart_and_keeps_to_the_executor(tmp_path: Path) -> None:
    # A smoke-sized run has far higher fps than a full-sized one: only ratios within a preset
    # count. The Dask row is only a candidate when Dask is asked for.
    rows = [
        bench_row("pipe", 300.0, preset="smoke"), bench_row("chunk", 290.0, preset="smoke"),
        bench_row("chunk", 9.0, preset="full"), bench_row("pipe", 6.0, preset="full"),
        bench_row("disk", 8.0, preset="full"),
        bench_row("disk", 400.0, preset="smoke", executor="dask"),
    ]  # fmt: skip
    assert _choose(tmp_path, rows).method == "chunk"
    path = save_results(tmp_path / "r.json", rows)
    assert auto.choose("moviepy", lambda n: True, paths=[path], executor="dask").method == "disk"


def test_choose_ignores_invalid_rows_other_machines_and_unavailable_renderers(tmp_path: Path) -> None:
    choice = _choose(tmp_path, [
        bench_row("pipe", 30.0),
        bench_row("chunk", 90.0, valid=False),
        bench_row("disk", 95.0, machine=other_machine()),
        bench_row("my-renderer", 99.0),
    ], available={"baseline", "pipe", "chunk", "disk"})  # fmt: skip
    assert choice.method == "pipe"
    assert "1 from other machines" in choice.reason and "1 invalid" in choice.reason
    assert "not available now: my-renderer" in choice.reason


def test_choose_only_counts_rows_of_the_same_kind(tmp_path: Path) -> None:
    rows = [bench_row("chunk", 500.0), bench_row("manim-scenes", 20.0), bench_row("manim-serial", 12.0)]
    assert _choose(tmp_path, rows, kind="manim").method == "manim-scenes"
    assert _choose(tmp_path, rows, kind="moviepy").method == "chunk"


def test_choose_defaults_when_nothing_usable(tmp_path: Path) -> None:
    rows = [bench_row("chunk", 90.0, valid=False)]
    moviepy = _choose(tmp_path, rows)
    manim = _choose(tmp_path, rows, kind="manim")
    assert (moviepy.method, manim.method) == ("chunk", "manim-scenes")
    assert not moviepy.from_results and moviepy.workers is None
    assert "documented default" in moviepy.reason and "1 invalid" in moviepy.reason
    fallback = _choose(tmp_path, rows, available={"baseline", "pipe"})
    assert fallback.method == "pipe" and "'chunk' is not available here" in fallback.reason


def test_choose_survives_broken_and_foreign_files(tmp_path: Path) -> None:
    good = save_results(tmp_path / "good.json", [bench_row("pipe", 30.0)])
    (tmp_path / "half.json").write_text('{"benchmarks": [')
    (tmp_path / "report.json").write_text('{"title": "not a benchmark run"}')
    (tmp_path / "odd.json").write_text('{"benchmarks": [{"extra_info": {"renderer": "chunk", "fps": "fast"}}, 3]}')
    choice = auto.choose("moviepy", lambda n: True, paths=sorted(tmp_path.glob("*.json")))
    assert choice.method == "pipe" and choice.files == (good,)


def test_result_paths_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = save_results(tmp_path / "elsewhere" / "a.json", [])
    env_dir = tmp_path / "more"
    nested = save_results(env_dir / "deep" / "b.json", [])
    saved = save_results(tmp_path / "work" / "results" / "c.json", [])
    autosaved = save_results(tmp_path / "work" / ".benchmarks" / "Linux-CPython" / "0001_x.json", [])
    (tmp_path / "work" / "results" / "plot.png").write_bytes(b"")
    monkeypatch.setenv(auto.RESULTS_ENV, f"{env_file}:{env_dir}:{tmp_path / 'missing'}:{env_file}")
    assert auto.result_paths(tmp_path / "work") == [env_file, nested, saved, autosaved]


# ---------------------------------------------------------------------------------------------
# Bad input fails early, naming the problem, leaving nothing


def test_unknown_method_lists_the_known_ones(no_results: Path) -> None:
    with pytest.raises(InvalidJob, match=r"unknown method 'fastest'.*baseline.*chunk"):
        render(FACTORY, no_results / "out.mp4", method="fastest", kwargs=TINY)
    assert list(no_results.glob("*.mp4")) == []


def test_missing_output_directory(no_results: Path) -> None:
    with pytest.raises(InvalidJob, match="output directory .*nowhere does not exist"):
        render(FACTORY, no_results / "nowhere" / "out.mp4", method="baseline", kwargs=TINY)


def test_odd_frame_size_is_refused_before_rendering(no_results: Path) -> None:
    with pytest.raises(InvalidJob, match="161x90 is odd"):
        render(FACTORY, no_results / "out.mp4", method="baseline", kwargs={**TINY, "width": 161})
    assert list(no_results.iterdir()) == [no_results / "no-results"]


@pytest.mark.parametrize("method", ["baseline", *PARALLEL])
def test_webm_with_aac_audio_is_refused_before_rendering(no_results: Path, method: str) -> None:
    seen: list[int] = []
    with pytest.raises(InvalidJob, match=r"cannot write libvpx-vp9 video with aac audio at 44100 Hz into a \.webm file.*WebM"):
        render(
            FACTORY, no_results / "out.webm", method=method, workers=2, progress=seen.append,
            kwargs={**TINY, "audio": True}, encoder=EncoderSpec.parse("libvpx-vp9:-:40"),
        )  # fmt: skip
    assert seen == []  # not one frame drawn
    assert list(no_results.iterdir()) == [no_results / "no-results"]


@pytest.mark.parametrize("method", ["baseline", "chunk"])
def test_webm_takes_vorbis_audio_and_aac_when_there_is_no_audio(no_results: Path, method: str) -> None:
    vp9 = EncoderSpec.parse("libvpx-vp9:-:40:deadline=realtime+cpu-used=8")
    with_vorbis = no_results / "vorbis.webm"
    render(FACTORY, with_vorbis, method=method, workers=2, kwargs={**TINY, "audio": True},
           encoder=replace(vp9, audio_codec="libvorbis"))  # fmt: skip
    silent = no_results / "silent.webm"
    render(FACTORY, silent, method=method, workers=2, kwargs=TINY, encoder=vp9)
    assert count_packets(with_vorbis) == count_packets(silent) == FRAMES
    codecs = [s["codec_name"] for s in probe(with_vorbis)["streams"]]
    assert codecs == ["vp9", "vorbis"]
    assert [s["codec_type"] for s in probe(silent)["streams"]] == ["video"]


def test_opus_at_the_audio_track_rate_is_refused_before_rendering(no_results: Path) -> None:
    # MoviePy writes the track at 44.1 kHz, a rate libopus does not take.
    opus = replace(EncoderSpec.parse("libvpx-vp9:-:40"), audio_codec="libopus")
    with pytest.raises(InvalidJob, match=r"libopus audio at 44100 Hz into a \.webm file \(ffmpeg: .*sample rate 44100"):
        render(FACTORY, no_results / "out.webm", method="pipe", kwargs={**TINY, "audio": True}, encoder=opus)
    assert list(no_results.iterdir()) == [no_results / "no-results"]


def test_manim_webm_with_aac_narration_is_refused_before_rendering(no_results: Path) -> None:
    script = no_results / "scenes.py"
    script.write_text(SCENES_SCRIPT)
    narration = no_results / "one.wav"
    run(["-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono", "-t", "0.5",
                str(narration)], what="narration")  # fmt: skip
    source = ManimSource(script, ("One",), audio={"One": narration})
    with pytest.raises(InvalidJob, match=r"cannot write libvpx-vp9 video with aac audio at 48000 Hz into a \.webm"):
        render(source, no_results / "out.webm", method="manim-serial", encoder=EncoderSpec.parse("libvpx-vp9:-:40"))
    assert sorted(p.name for p in no_results.iterdir()) == ["no-results", "one.wav", "scenes.py"]


@pytest.mark.parametrize(
    ("source", "kwargs", "message"),
    [
        pytest.param("no.such.module:make", None, "cannot import factory module 'no.such.module'", id="module"),
        pytest.param("harness.workloads.frame_index:nope", None, "has no attribute 'nope'", id="function"),
        pytest.param("scenes.py", None, "is a script path", id="script-as-string"),
        pytest.param(ClipSource(FACTORY), {"width": 2}, "kwargs= applies to a factory given as a string", id="kwargs"),
        pytest.param(object(), None, "cannot render a object", id="object"),
    ],
)
def test_bad_sources(no_results: Path, source: Any, kwargs: dict[str, Any] | None, message: str) -> None:
    with pytest.raises(InvalidSource, match=message):
        render(source, no_results / "out.mp4", method="baseline", kwargs=kwargs)


def test_a_clip_renderer_refuses_manim_scenes(no_results: Path) -> None:
    script = no_results / "scenes.py"
    script.write_text(SCENES_SCRIPT)
    with pytest.raises(InvalidJob, match="'baseline' does not render Manim scenes"):
        render(ManimSource(script, ("One",)), no_results / "out.mp4", method="baseline")


# ---------------------------------------------------------------------------------------------
# Manim sources


@pytest.mark.parametrize("method", ["auto", *MANIM])
def test_manim_scenes_render(no_results: Path, method: str) -> None:
    renderer_or_skip("manim-scenes" if method == "auto" else method)
    script = no_results / "scenes.py"
    script.write_text(SCENES_SCRIPT)
    out = no_results / "scenes.mp4"
    seen: list[int] = []
    result = render(ManimSource(script, ("One", "Two")), out, method=method, workers=2, progress=seen.append)
    expected = "manim-scenes" if method == "auto" else method
    assert result.info["method"] == expected == result.renderer
    assert count_packets(out) == result.frames > 0
    # 1.5 s of animation at manim's -ql 15 fps.
    assert result.frames == pytest.approx(22, abs=2)
    assert sum(seen) == result.frames == result.info["progress_reported"]


# ---------------------------------------------------------------------------------------------
# Machine facts and the progress tracker


def test_machine_facts_describe_this_machine() -> None:
    facts = machine_facts()
    assert set(facts) >= {"cores", "cpu_model", "ffmpeg", "moviepy", "manim", "python", "platform"}
    assert facts["cores"] == usable_cores()
    assert facts["moviepy"].startswith("2.2")  # package metadata, not moviepy.__version__
    assert facts["cpu_model"] and facts == machine_facts()
    assert same_machine(facts, dict(facts, ffmpeg="other", python="3.99"))
    assert not same_machine(facts, other_machine())
    assert not same_machine(facts, {"cores": facts["cores"]})


def test_tracker_counts_reports_from_many_threads() -> None:
    stream = io.StringIO()
    tracker = ProgressTracker(8 * 250, bar=True, stream=stream, desc="t")

    def worker() -> None:
        for _ in range(250):
            tracker(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tracker.finish()
    assert tracker.reported == 2000
    assert "100%" in stream.getvalue() and "2000/2000" in stream.getvalue()


def test_tracker_finish_completes_and_abort_does_not() -> None:
    done, failed = io.StringIO(), io.StringIO()
    ok = ProgressTracker(10, bar=True, stream=done)
    ok(4)
    ok.finish(total=12)  # the result's count replaces the estimate
    bad = ProgressTracker(10, bar=True, stream=failed)
    bad(4)
    bad.abort()
    assert "12/12" in done.getvalue() and "100%" in done.getvalue()
    assert "4/10" in failed.getvalue() and "100%" not in failed.getvalue()


def test_tracker_with_an_unknown_total_ends_at_100_percent() -> None:
    stream = io.StringIO()
    tracker = ProgressTracker(None, bar=True, stream=stream)
    tracker(7)
    tracker(15)
    tracker.finish(total=22)
    assert "22/22" in stream.getvalue() and "100%" in stream.getvalue()


def test_tracker_never_draws_past_the_total() -> None:
    stream = io.StringIO()
    tracker = ProgressTracker(5, bar=True, stream=stream)
    tracker(4)
    tracker(4)  # e.g. a fallback renderer counting again
    tracker.finish()
    assert tracker.reported == 8
    assert "5/5" in stream.getvalue() and "8/5" not in stream.getvalue()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_wanted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert bar_wanted(True, stream=_Terminal())
    assert not bar_wanted(True, stream=io.StringIO())
    assert not bar_wanted(False, stream=_Terminal(), force=True)
    assert bar_wanted(True, stream=io.StringIO(), force=True)
    monkeypatch.setenv(PROGRESS_ENV, "1")
    assert bar_wanted(True, stream=io.StringIO())
    assert not bar_wanted(False, stream=io.StringIO())
    monkeypatch.setenv(PROGRESS_ENV, "0")
    assert not bar_wanted(True, stream=_Terminal())
