"""Matrix rules (pure) and option parsing, without ffmpeg or renderers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.matrix import Case, generate, load_renderers
from harness.options import OptionError, OptionSpec, SpeedupRule, parse_settings, parse_workers
from harness.workloads.presets import Workload
from impls.model.protocol import ClipSource, EncoderSpec, ManimSource, Renderer, RenderJob, RenderResult, Source

CLIP = ClipSource("harness.workloads.frame_index:make")
SCENES = ManimSource(script=Path("scenes.py"), scenes=("A",))


class Stub:
    def __init__(self, name: str, kinds: tuple[type, ...], unavailable: str | None = None) -> None:
        self.name = name
        self.kinds = kinds
        self.unavailable = unavailable

    def supports(self, source: Source) -> bool:
        return isinstance(source, self.kinds)

    def unavailable_reason(self) -> str | None:
        return self.unavailable

    def render(self, job: RenderJob) -> RenderResult:
        raise AssertionError("never rendered here")


def renderers(*stubs: Stub) -> dict[str, Renderer]:
    return {s.name: s for s in stubs}


BASELINE = Stub("baseline", (ClipSource,))
SERIAL = Stub("manim-serial", (ManimSource,))
CHUNK = Stub("chunk", (ClipSource,))
SCENES_R = Stub("manim-scenes", (ManimSource,))
X264 = EncoderSpec()
FAST = EncoderSpec.parse("libx264:veryfast:28")


def ids(cases: list[Case]) -> list[str]:
    return [c.id for c in cases]


def test_ids_references_first_and_unsupported_pairs_not_generated() -> None:
    cases = generate(
        renderers(BASELINE, SERIAL, CHUNK, SCENES_R), {},
        [Workload("slideshow", "full", CLIP), Workload("explainer", "full", SCENES)],
        [1, 2], [X264],
    )  # fmt: skip
    assert ids(cases) == [
        "baseline-w1-libx264:medium:23-slideshow",
        "chunk-w1-libx264:medium:23-slideshow",
        "chunk-w2-libx264:medium:23-slideshow",
        "manim-serial-w1-libx264:medium:23-explainer",
        "manim-scenes-w1-libx264:medium:23-explainer",
        "manim-scenes-w2-libx264:medium:23-explainer",
    ]
    assert all(c.skip is None for c in cases)
    assert [c.reference for c in cases] == ["baseline"] * 3 + ["manim-serial"] * 3
    assert cases[0].is_reference and not cases[1].is_reference
    assert cases[1].group == ("slideshow", "full", "libx264:medium:23")


def test_each_encoder_has_its_own_reference_and_absent_encoders_skip_with_reason() -> None:
    def problem(spec: EncoderSpec) -> str | None:
        return "h264_nvenc: Cannot load libcuda.so.1" if spec.codec == "h264_nvenc" else None

    nvenc = EncoderSpec.parse("h264_nvenc:p4:-")
    cases = generate(
        renderers(BASELINE, CHUNK), {}, [Workload("slideshow", "smoke", CLIP)], [2], [X264, nvenc],
        encoder_problem=problem,
    )  # fmt: skip
    assert ids(cases) == [
        "baseline-w1-libx264:medium:23-slideshow",
        "chunk-w2-libx264:medium:23-slideshow",
        "baseline-w1-h264_nvenc:p4:--slideshow",
        "chunk-w2-h264_nvenc:p4:--slideshow",
    ]
    assert [c.skip for c in cases] == [None, None] + ["h264_nvenc: Cannot load libcuda.so.1"] * 2


def test_executors_renderer_reasons_broken_renderers_and_unbuildable_workloads() -> None:
    gpu = Stub("gpu", (ClipSource,), unavailable="needs CUDA")
    cases = generate(
        renderers(BASELINE, CHUNK, gpu),
        {"pipe": "renderer 'pipe' cannot be loaded: ImportError: boom"},
        [Workload("slideshow", "full", CLIP), Workload("explainer", "full", None, unavailable="no manim")],
        [1], [X264], ["local", "dask"],
        executor_problem=lambda name: "no dask here" if name == "dask" else None,
    )  # fmt: skip
    got = {c.id: c.skip for c in cases}
    assert got == {
        "baseline-w1-libx264:medium:23-slideshow": None,  # the reference runs once, locally
        "chunk-w1-libx264:medium:23-slideshow": None,
        "chunk-w1-libx264:medium:23-slideshow-dask": "no dask here",
        "gpu-w1-libx264:medium:23-slideshow": "needs CUDA",
        "gpu-w1-libx264:medium:23-slideshow-dask": "needs CUDA",
        "pipe-w1-libx264:medium:23-slideshow": "renderer 'pipe' cannot be loaded: ImportError: boom",
        "explainer-unavailable": "no manim",
    }


def test_preferred_reference_and_no_reference() -> None:
    mine = Stub("mine", (ClipSource,))
    cases = generate(renderers(BASELINE, CHUNK, mine), {}, [Workload("w", "custom", CLIP)], [1], [X264], reference="mine")
    assert ids(cases) == ["mine-w1-libx264:medium:23-w", "chunk-w1-libx264:medium:23-w"]
    assert {c.reference for c in cases} == {"mine"}

    alone = generate(renderers(CHUNK), {}, [Workload("w", "full", CLIP)], [1], [X264])
    assert ids(alone) == ["chunk-w1-libx264:medium:23-w"] and alone[0].reference is None


class FlakyRegistry(Mapping[str, Renderer]):
    def __init__(self, good: dict[str, Renderer], bad: set[str]) -> None:
        self.good, self.bad = good, bad

    def __getitem__(self, name: str) -> Renderer:
        if name in self.bad:
            raise ImportError(f"No module named 'impls.{name}'")
        return self.good[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*self.good, *self.bad])

    def __len__(self) -> int:
        return len(self.good) + len(self.bad)


def test_load_renderers_reports_import_failures_and_adds_references() -> None:
    registry = FlakyRegistry(renderers(BASELINE, CHUNK, SERIAL), {"pipe"})
    loaded, broken = load_renderers(["chunk", "pipe"], registry)
    assert list(loaded) == ["manim-serial", "baseline", "chunk"]
    assert broken == {"pipe": "renderer 'pipe' cannot be loaded: ImportError: No module named 'impls.pipe'"}
    with pytest.raises(KeyError, match="unknown renderer.*nosuch; known: baseline, chunk, manim-serial, pipe"):
        load_renderers(["nosuch"], registry)


def settings(**given: Any) -> Any:
    def lookup(spec: OptionSpec) -> Any:
        return given.get(spec.name.replace("-", "_"))

    return parse_settings(lookup, cores=4)


def test_defaults_and_parsing() -> None:
    s = settings()
    assert s.renderers is None and s.workers == (4,)
    assert s.encoders == (X264,) and s.workloads == ("slideshow", "explainer", "edit", "captions", "explainer-tex")
    assert (s.preset, s.rounds, s.executors, s.lossless) == ("full", 1, ("local",), False)
    assert s.results_dir == Path("results") and s.min_speedup == () and s.max_fps_drop is None
    assert (s.interleave, s.significance, s.confidence, s.inconclusive_fails) == (True, 0.05, 0.95, True)
    assert s.warmup == 0 and settings(preset="smoke").rounds == 3

    s = settings(
        renderers="chunk, pipe", workers="cores,2,2,1", encoders="libx264:veryfast:28,libx264:veryfast:28",
        preset="smoke", rounds="auto", min_speedup="chunk=1.3,pipe@2=1.2,*=1", max_fps_drop="10%",
        compare="latest", lossless=True,
    )  # fmt: skip
    assert s.renderers == ("chunk", "pipe") and s.workers == (1, 2, 4)
    assert s.encoders == (EncoderSpec.lossless(),)  # --renderbench-lossless wins over encoders
    # 'auto' rounds with a gate: enough rounds for a verdict.
    assert s.rounds == 5 and s.max_fps_drop == 10.0 and s.compare == "latest" and s.lossless
    assert s.min_speedup == (SpeedupRule("chunk", 1.3), SpeedupRule("pipe", 1.2, 2), SpeedupRule("*", 1.0))
    assert str(s.min_speedup[1]) == "pipe@2=1.2"
    assert parse_workers("1,cores", cores=1) == (1,)
    s = settings(interleave="off", significance="0.01", inconclusive="pass", rounds="2", min_speedup="chunk=1.3", warmup="1")
    assert (s.interleave, s.significance, s.inconclusive_fails, s.rounds, s.warmup) == (False, 0.01, False, 2, 1)


def test_presets_choose_workloads_workers_and_rounds_unless_given() -> None:
    smoke = settings(preset="smoke")
    assert smoke.workers == (1, 2, 4) and smoke.rounds == 3
    assert smoke.workloads == ("slideshow", "explainer", "edit", "captions", "explainer-tex")
    every = settings(preset="exhaustive")
    assert every.workers == (1, 2, 4) and every.rounds == 1
    assert set(every.workloads) == {
        "slideshow", "frame_index", "explainer", "gradient", "edit", "captions", "explainer-tex"
    }
    mine = settings(preset="exhaustive", workers="2", workloads="edit", rounds="2")
    assert (mine.workers, mine.workloads, mine.rounds) == ((2,), ("edit",), 2)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"workers": "0"}, "workers: 0 must be >= 1"),
        ({"workers": "two"}, "workers: 'two' is not an integer or 'cores'"),
        ({"encoders": "libx264:fast:high"}, "crf in encoder 'libx264:fast:high' must be an integer"),
        ({"preset": "huge"}, "preset: 'huge' is not one of smoke, full, exhaustive"),
        ({"executors": "ray"}, "executors: 'ray' is not one of local, dask"),
        ({"rounds": "0"}, "rounds: 0 must be >= 1"),
        ({"min_speedup": "chunk"}, "min-speedup: 'chunk' must look like renderer=1.3"),
        ({"min_speedup": "chunk=fast"}, "min-speedup: 'fast' in 'chunk=fast' is not a number"),
        ({"max_fps_drop": "150"}, "max-fps-drop: 150.0 must be between 0 and 100"),
        ({"warmup": "-1"}, "warmup: -1 must be >= 0"),
        ({"interleave": "sometimes"}, "interleave: 'sometimes' is not on or off"),
        ({"significance": "0.5"}, "significance: 0.5 must be between 0 and 0.5"),
        ({"inconclusive": "ignore"}, "inconclusive: 'ignore' is not fail or pass"),
    ],
    ids=[
        "workers-zero", "workers-word", "crf", "preset", "executor", "rounds", "rule-shape", "rule-number", "drop",
        "warmup", "interleave", "significance", "inconclusive",
    ],  # fmt: skip
)
def test_bad_values_name_the_option(given: dict[str, str], message: str) -> None:
    with pytest.raises(OptionError) as caught:
        settings(**given)
    assert message in str(caught.value)
