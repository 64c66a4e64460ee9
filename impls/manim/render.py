"""The one way every Manim renderer renders: plan, render the scenes, assemble, result.

:class:`ManimRenderer` is that skeleton; a strategy (``serial``, ``scenes``, ``inflight``,
``ranges``: one function each) decides only how the scenes become video files, and hands each
one to the :class:`SceneRun` as it is ready. Everything else is the same for all of them:

- the checks before any manim process starts (:mod:`impls.manim.preflight`), the renderer's
  options included;
- the render's own :class:`~impls.manim.cli.ManimProcesses` (killed together on failure);
- for the parallel renderers (:class:`~impls.manim.preflight.ParallelOptions`), one Tex cache
  in the render's scratch directory that all its manim processes compile through
  (:mod:`impls.manim.tex_cache`), removed with it;
- a scene is held past its end while others still render (:func:`~impls.manim.assemble.hold`)
  and counted for progress; a scene that plays no animation is its picture, shown for its
  narration's length or ``still_duration`` seconds (or a failure, when that is ``None``);
- the partial-success policy: by default any failure raises :class:`ScenesFailed` naming
  every failed scene, and no output is written; with ``options["partial"]`` the scenes that
  rendered are written and the failures listed in ``result.failures`` (all scenes failing
  still raises);
- one assembly (held frames, join, one audio track, one mux) into an atomic output.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from impls.errors import InvalidJob, SceneFailed, ScenesFailed, ToolNotFound
from impls.ffmpeg.files import atomic_output, scratch_dir
from impls.manim import pool, remote
from impls.manim.assemble import SceneClip, assemble, clip_from_files, hold
from impls.manim.cli import MANIM_HINT, ManimProcesses, SceneTask
from impls.manim.pool import Outcome
from impls.manim.preflight import ManimOptions, ManimPlan, ParallelOptions, prepare_manim_job
from impls.model.protocol import ManimSource, RenderJob, RenderResult, Source, Stages
from impls.runtime.executor import Executor, Settings, capabilities, open_executor

O = TypeVar("O", bound=ManimOptions)


@dataclasses.dataclass
class SceneRun(Generic[O]):
    """One Manim render in progress, as a strategy sees it; ``info`` is the report."""

    job: RenderJob
    plan: ManimPlan
    options: O
    work: Path
    processes: ManimProcesses
    executor: Executor | None  # a remote executor's workers, or None: manim runs here
    tex_cache: Path | None = None  # the Tex cache its manim processes share (None: none)
    clips: dict[int, SceneClip] = dataclasses.field(default_factory=dict)
    failures: dict[int, SceneFailed] = dataclasses.field(default_factory=dict)
    stages: Stages = dataclasses.field(default_factory=Stages)
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    retries: int = 0

    def task(self, scene: str, name: str, animations: tuple[int, int] | None = None) -> SceneTask:
        """The task rendering ``scene`` (or a range of its animations) into ``work/name``."""
        return self.plan.task(scene, self.work / name, self.work, animations, self.tex_cache)

    def run_tasks(self, tasks: Sequence[SceneTask], workers: int) -> Iterator[Outcome]:
        """Run ``tasks``, ``workers`` at a time, yielding outcomes as they finish; the retries
        they spent are counted."""
        if self.executor is None:
            outcomes = pool.run_tasks(tasks, workers, self.processes, self.job.retries)
        else:
            own_python = self.options.python is None
            outcomes = remote.run_tasks(self.executor, tasks, self.job.retries, own_python)
        for outcome in outcomes:
            self.retries += outcome.retries
            yield outcome

    def clip(self, scene: str, files: Sequence[Path]) -> SceneClip:
        """``scene`` from the files manim wrote for it (its videos, or its picture)."""
        return clip_from_files(scene, files, self.plan)

    def add(self, index: int, clip: SceneClip) -> None:
        """Scene ``index`` is rendered: hold its last frame now (while others still render)."""
        if clip.still is not None and self.plan.still_seconds(clip.scene) is None:
            reason = "manim wrote no video, only an image: the scene plays no animation"
            self.fail(index, SceneFailed(clip.scene, f"{reason} (still_duration is None)"))
            return
        self.clips[index] = hold(clip, self.plan, self.job.encoder, self.work, str(index))
        if self.job.progress is not None:
            self.job.progress(clip.frames + (clip.held or 0))

    def fail(self, index: int, error: SceneFailed) -> None:
        self.failures.setdefault(index, error)

    def render_whole(self, indices: Iterable[int], workers: int, prefix: str = "scene") -> None:
        """Render the scenes ``indices`` (positions in the plan), each in one manim process."""
        chosen = list(indices)
        tasks = [self.task(self.plan.scenes[i], f"{prefix}-{i:04d}.mp4") for i in chosen]
        for outcome in self.run_tasks(tasks, workers):
            index = chosen[outcome.index]
            if outcome.error is not None:
                self.fail(index, outcome.error)
            elif outcome.video is not None and outcome.video.path is not None:
                self.add(index, self.clip(outcome.task.scene, [Path(outcome.video.path)]))


Strategy = Callable[[SceneRun[O]], None]
"""How a Manim renderer turns the plan's scenes into video files: it renders every scene, hands
each clip to :meth:`SceneRun.add` and each error to :meth:`SceneRun.fail`."""


def _always(python: str) -> str | None:
    return None


class ManimRenderer(Generic[O]):
    """A Manim renderer: one strategy inside the one render skeleton.

    ``remote``: whether scenes may run on a remote executor's workers (else manim runs here
    only); ``needs(python)`` says why ``python``'s manim cannot run the strategy, or None.
    """

    def __init__(
        self, name: str, options: type[O], strategy: Strategy[O], *, remote: bool = False,
        needs: Callable[[str], str | None] = _always,
    ) -> None:  # fmt: skip
        self.name = name
        self.options = options
        self.strategy = strategy
        self.remote = remote
        self.needs = needs

    def supports(self, source: Source) -> bool:
        return isinstance(source, ManimSource) and self.unavailable_reason() is None

    def unavailable_reason(self, python: str | None = None) -> str | None:
        """Why this renderer cannot run with ``python``'s manim (``None`` when it can)."""
        python = python or sys.executable
        if python == sys.executable and importlib.util.find_spec("manim") is None:
            return f"manim is not installed: {MANIM_HINT}"
        return self.needs(python)

    def executor_reason(self, executor: str) -> str | None:
        """Why ``executor`` cannot run this renderer (None: it can)."""
        if self.remote or not capabilities(executor).remote:
            return None
        return (
            f"{self.name} runs manim on this machine only (executor 'local'); manim-scenes "
            f"renders each scene on a worker of executor {executor!r}"
        )

    def render(self, job: RenderJob) -> RenderResult:
        started = time.perf_counter()
        options = self.options.from_mapping(self.name, job.options)
        refused = self.executor_reason(job.executor)
        if refused is not None:
            raise InvalidJob(f"executor {job.executor!r} is not supported: {refused}")
        plan = prepare_manim_job(job, options)
        reason = self.needs(plan.python)
        if reason is not None:
            raise ToolNotFound("manim", reason)
        executor = None
        if capabilities(job.executor).remote:
            settings = Settings(
                plan.workers, address=job.dask_address, retries=job.retries, security=job.dask_security
            )
            executor = open_executor(job.executor, settings)
        try:
            with scratch_dir("renderbench-manim-") as work:
                tex_cache = work / "tex" if _shares_tex(options, executor) else None
                run = SceneRun(job, plan, options, work, ManimProcesses(), executor, tex_cache)
                self.strategy(run)
                return _finish(run, self.name, started)
        finally:
            if executor is not None:
                executor.close()


def _shares_tex(options: ManimOptions, executor: Executor | None) -> bool:
    # On a remote executor each scene runs in a private folder of its worker, with manim's own
    # Tex folder: the render's scratch directory is not there, and a folder in the worker's
    # (which outlives the render on a long-lived cluster) would be left behind.
    return isinstance(options, ParallelOptions) and options.tex_cache and executor is None


def _finish(run: SceneRun[Any], renderer: str, started: float) -> RenderResult:
    """Apply the partial-success policy, assemble the clips and describe the result."""
    plan, job = run.plan, run.job
    failed = {plan.scenes[index]: error for index, error in sorted(run.failures.items())}
    rendered = [plan.scenes[index] for index in sorted(run.clips)]
    if failed and (not run.options.partial or not run.clips):
        raise ScenesFailed(failed, rendered)
    with atomic_output(job.output) as tmp:
        clips = [run.clips[index] for index in sorted(run.clips)]
        assembled = assemble(clips, plan, job.encoder, tmp, run.work)
    return RenderResult(
        output=job.output,
        renderer=renderer,
        frames=assembled.frames,
        duration=assembled.duration,
        fps=assembled.rate,
        wall=time.perf_counter() - started,
        stages={**run.stages, **assembled.stages},
        retries=run.retries,
        failures={scene: str(error) for scene, error in failed.items()},
        info={
            "scenes": assembled.scenes,
            "reencoded_concat": assembled.reencoded,
            "audio": assembled.audio,
            **run.info,
        },
    )
