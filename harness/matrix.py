"""The benchmark matrix: renderer x workers x encoder x workload [x executor] as :class:`Case`\\ s.

:func:`generate` is pure: it gets renderers, workloads and the answers to "can this encoder /
executor run here?" as arguments, so the rules are unit-tested without ffmpeg. The rules:

- every workload x encoder has one *reference* case (``baseline`` for MoviePy clips,
  ``manim-serial`` for Manim scenes), run once with 1 worker; others are compared with it;
- a renderer that does not support a workload's source gets no case for it (not generated);
- a case that cannot run here (encoder missing from this ffmpeg, renderer or executor
  unavailable, workload not buildable) is generated and skipped, with the reason; so is a
  renderer on an executor it does not run on (:func:`impls.registry.refuses`);
- a renderer whose module does not import gets one skipped case per workload saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from harness.workloads.presets import Workload
from impls.errors import EncoderUnavailable, ToolNotFound
from impls.model.protocol import EncoderSpec, Renderer, Source
from impls.registry import refuses, unavailable
from impls.runtime.executor import DEFAULT_EXECUTOR

#: Reference renderers in order of preference; the first that supports a source is its reference.
REFERENCE_RENDERERS = ("baseline", "manim-serial")

#: Renderer of the one skipped case standing for a workload that cannot be built here.
NO_RENDERER = "-"


@dataclass(frozen=True)
class Case:
    """One benchmark case; ``id`` is its pytest id, e.g. ``chunk-w2-libx264:medium:23-slideshow``."""

    renderer: str
    workers: int
    encoder: EncoderSpec
    workload: str
    preset: str
    executor: str = DEFAULT_EXECUTOR
    reference: str | None = None  # the renderer this case is compared with (None: no reference)
    mode: str = "auto"  # validation mode of the workload
    skip: str | None = None
    source: Source | None = field(default=None, compare=False, hash=False)

    @property
    def id(self) -> str:
        if self.renderer == NO_RENDERER:
            return f"{self.workload}-unavailable"
        base = f"{self.renderer}-w{self.workers}-{self.encoder.label}-{self.workload}"
        return base if self.executor == DEFAULT_EXECUTOR else f"{base}-{self.executor}"

    @property
    def is_reference(self) -> bool:
        return self.renderer == self.reference

    @property
    def group(self) -> tuple[str, str, str]:
        """Cases with the same group share one reference render: workload, preset, encoder."""
        return (self.workload, self.preset, self.encoder.label)


Problem = Callable[[str], str | None]
EncoderProblem = Callable[[EncoderSpec], str | None]


def _supports(renderer: Renderer, source: Source) -> bool:
    try:
        return bool(renderer.supports(source))
    except Exception:  # a buggy supports() must not break collection; the case would fail anyway
        return False


def reference_for(
    source: Source, renderers: Mapping[str, Renderer], preferred: str | None = None
) -> str | None:
    """Name of the renderer every other output of ``source`` is compared with."""
    names = (preferred,) if preferred else REFERENCE_RENDERERS
    for name in names:
        if name is not None and name in renderers and _supports(renderers[name], source):
            return name
    return None


def generate(
    renderers: Mapping[str, Renderer],
    broken: Mapping[str, str],
    workloads: Sequence[Workload],
    workers: Sequence[int],
    encoders: Sequence[EncoderSpec],
    executors: Sequence[str] = (DEFAULT_EXECUTOR,),
    *,
    encoder_problem: EncoderProblem = lambda spec: None,
    executor_problem: Problem = lambda name: None,
    reference: str | None = None,
) -> list[Case]:
    """All cases, reference cases first within each workload x encoder.

    ``renderers`` are the selected renderers that imported (the references included);
    ``broken`` maps a selected renderer that did not import to the reason.
    """
    cases: list[Case] = []
    for load in workloads:
        if load.source is None:
            cases.append(
                Case(NO_RENDERER, workers[0], encoders[0], load.name, load.preset, skip=load.unavailable or "unavailable")
            )
            continue
        source = load.source
        ref = reference_for(source, renderers, reference)
        for encoder in encoders:
            encoder_skip = encoder_problem(encoder)

            def case(name: str, count: int, executor: str, skip: str | None) -> Case:
                return Case(
                    name, count, encoder, load.name, load.preset, executor, ref, load.mode,
                    skip=encoder_skip or skip, source=source,
                )  # fmt: skip

            if ref is not None:
                cases.append(case(ref, 1, DEFAULT_EXECUTOR, unavailable(renderers[ref])))
            for name, renderer in renderers.items():
                if name == ref or name in REFERENCE_RENDERERS or not _supports(renderer, source):
                    continue
                renderer_skip = unavailable(renderer)
                for executor in executors:
                    executor_skip = executor_problem(executor) or refuses(renderer, executor)
                    for count in workers:
                        cases.append(case(name, count, executor, renderer_skip or executor_skip))
        for name, reason in broken.items():
            cases.append(
                Case(name, workers[0], encoders[0], load.name, load.preset, skip=reason, source=source)
            )
    return cases


# ---------------------------------------------------------------------------------------------
# Answers from this machine (not pure: they import modules and run ffmpeg once per encoder)


def load_renderers(names: Sequence[str] | None, registry: Mapping[str, Renderer]) -> tuple[dict[str, Renderer], dict[str, str]]:
    """The renderers called ``names`` (None: all) that import, and why the others do not.

    The reference renderers are always loaded (when they exist) so every case has one.
    Unknown names raise KeyError listing the known ones.
    """
    known = list(registry)
    wanted = list(known) if names is None else list(names)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise KeyError(f"unknown renderer(s) {', '.join(unknown)}; known: {', '.join(known)}")
    for ref in REFERENCE_RENDERERS:
        if ref in known and ref not in wanted:
            wanted.insert(0, ref)
    loaded: dict[str, Renderer] = {}
    broken: dict[str, str] = {}
    for name in wanted:
        try:
            loaded[name] = registry[name]
        except Exception as exc:  # an import error in one renderer must not hide the others
            broken[name] = f"renderer {name!r} cannot be loaded: {type(exc).__name__}: {exc}"
    return loaded, broken


def encoder_problem(spec: EncoderSpec) -> str | None:
    """Why this ffmpeg cannot encode with ``spec``, or None (one tiny test encode, cached)."""
    from impls.ffmpeg.tools import check_encoder

    try:
        check_encoder(spec)
    except (EncoderUnavailable, ToolNotFound) as exc:
        return f"{spec.label}: {exc}"
    return None
