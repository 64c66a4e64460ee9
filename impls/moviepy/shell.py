"""The render shell every parallel MoviePy renderer (``disk``, ``pipe``, ``chunk``) runs in.

A :class:`ClipRenderer` runs one render around its :class:`ClipPipeline`: the options built
from ``job.options`` and checked against the executor's capabilities, every check before any
worker or ffmpeg starts (:mod:`impls.moviepy.preflight`), a private scratch directory, the
audio track encoded once, the parent's own copy of the clip released, the pipeline writing a
video-only file, the audio muxed once, the frame count checked, the output renamed into place
atomically. On failure nothing is left: no file at the output path, no scratch directory, no
worker (the dispatcher kills the pool). With ``job.fallback`` a failed render is redone by the
baseline and the result says so.

The source is a factory (:class:`~impls.model.protocol.ClipSource`: every worker builds the
clip itself) or the caller's own clip (:class:`~impls.model.protocol.ClipObject`: pickled once
when the render starts and loaded once by each worker, :mod:`impls.moviepy.clip_transfer`).

Memory: every worker holds its own clip, and this process one more for its size, timeline and
audio, all lean (their ColorClips hold one pixel, see :mod:`impls.moviepy.color_clips`). This
process gives its copy up once the audio is written, before the first worker starts, so a
render holds ``workers`` clips, not one more; the audio is encoded first rather than beside the
frames for that reason (it costs a small fraction of the frames' time). An executor that opens
ahead starts its workers while this process builds the clip, but each worker builds its own
clip only with its first task, after this process's copy is gone. A clip object is the
caller's: this process reads it and lets it go, but never closes it.

The fast path (:mod:`impls.moviepy.fastpath`, option ``fast_path``, on by default): this
process chooses the frames to check from its copy of the clip (by the paths they take,
transitions first); the render's first dispatcher has the workers make them both ways, split
between them, before any frame task (each worker builds its clip in that task, as it would in
its first frame task). The frame tasks then carry the verdict in their :class:`FrameSource`,
and ``info["fast_path"]`` says it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import shutil
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from impls.errors import InvalidJob, RenderFailed, SourceReadFailed
from impls.ffmpeg.files import atomic_output, cut_short, disk_full, scratch_dir, writing
from impls.ffmpeg.operations import mux_audio
from impls.ffmpeg.probe import count_packets
from impls.ffmpeg.tools import ffmpeg_binary
from impls.model.options import Options, boolean, choice, integer, text
from impls.model.protocol import ClipObject, ClipSource, EncoderSpec, MoviePySource, RenderJob
from impls.model.protocol import RenderResult, Source, Stages
from impls.model.timeline import Timeline
from impls.moviepy.audio import write_clip_audio
from impls.moviepy.clip_pickle import COMPRESSIONS
from impls.moviepy.clip_transfer import supply
from impls.moviepy.color_clips import lean_color_clips
from impls.moviepy.preflight import prepare_clip_job
from impls.moviepy.readers import guarded, reads_video_files
from impls.moviepy.worker import WORKER_MODULES, FrameSource, check_fast_path, forget_clip
from impls.runtime.dispatch import Dispatcher, Task
from impls.runtime.executor import (
    Capabilities,
    Executor,
    Settings,
    capabilities,
    open_executor,
    worker_count,
)

if TYPE_CHECKING:
    from moviepy import VideoClip


#: Frames the fast path is checked on before a render trusts it (option ``fast_path_samples``).
FAST_PATH_SAMPLES = 4


@dataclasses.dataclass(frozen=True)
class ClipOptions(Options):
    """Options every parallel MoviePy renderer takes, and the checks a renderer's own add."""

    #: How local worker processes start: forkserver (the default on Linux) or spawn.
    start_method: str | None = text()
    #: A clip object's payload compressed with zlib always ("zlib") or never ("none"); by
    #: default when that saves a fifth of it (:mod:`impls.moviepy.clip_pickle`).
    clip_compression: str | None = choice(COMPRESSIONS)
    #: Frames made by the fast path (:mod:`impls.moviepy.fastpath`) once the workers found it
    #: equal to MoviePy on sampled frames; false: every frame by MoviePy's own code.
    fast_path: bool = boolean(True)
    #: Frames checked both ways before the fast path is trusted.
    fast_path_samples: int = integer(FAST_PATH_SAMPLES)

    def check(self, encoder: EncoderSpec, executor: str, capabilities: Capabilities) -> None:
        """Refuse, before anything starts, what the encoder or the executor cannot do."""

    def check_clip(self, render: ClipRender[Any]) -> None:
        """Refuse, before any worker or ffmpeg starts, what the clip makes impossible."""


O = TypeVar("O", bound=ClipOptions)


@dataclasses.dataclass
class ClipRender(Generic[O]):
    """One parallel render in progress, as a pipeline sees it. ``info`` is the report."""

    job: RenderJob
    name: str
    options: O
    timeline: Timeline
    workers: int
    source: FrameSource
    scratch: Path
    executor: Executor
    stages: Stages = dataclasses.field(default_factory=Stages)
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    retries: int = 0
    failures: dict[str, str] = dataclasses.field(default_factory=dict)
    fast_check: tuple[int, ...] = ()  # frames the fast path is to be checked on, still to do
    #: Making the frames reads video files (MoviePy readers): a worker then renders runs of
    #: consecutive frames, so that its readers read forward instead of decoding what the other
    #: workers render (:func:`impls.moviepy.readers.reads_video_files`).
    reads_video: bool = False

    @contextlib.contextmanager
    def dispatcher(self, window: int, *, ordered: bool = False) -> Iterator[Dispatcher[Any]]:
        """A dispatcher for this render's tasks; its retries and failures land in the result."""
        job = self.job
        dispatch: Dispatcher[Any] = Dispatcher(
            self.executor, window, ordered=ordered, retries=job.retries, timeout=job.timeout,
            progress=job.progress,
        )  # fmt: skip
        try:
            with dispatch:
                if self.fast_check:
                    self._check_fast_path(dispatch)
                yield dispatch
        finally:
            self.retries += dispatch.retried
            self.failures.update(dispatch.failures)

    def _check_fast_path(self, dispatch: Dispatcher[Any]) -> None:
        """Run the fast path's check on the workers; turn it on for the frames if it passed."""
        from impls.moviepy.fastpath import split, verdict

        frames, self.fast_check = self.fast_check, ()
        tasks = (
            Task(f"fast path check of frames {list(part)}", check_fast_path, (self.source, part))
            for part in split(frames, self.workers)
        )
        checked: list[Any] = []
        started = time.perf_counter()
        with self.stages.timed("fast_path_check"):
            for _, result in dispatch.run(tasks):
                checked += result
        seconds = round(time.perf_counter() - started, 3)
        self.info["fast_path"] = {**verdict(checked), "check_s": seconds}
        if self.info["fast_path"]["enabled"]:
            self.source = dataclasses.replace(self.source, fast_path=True)


class ClipPipeline(Protocol[O]):
    """What a parallel renderer adds to the shell: its name, its options, its video."""

    name: str
    options: type[O]

    def write_video(self, render: ClipRender[O], video: Path) -> None:
        """Write the render's video-only stream into ``video`` (in the scratch directory)."""
        ...


class ClipRenderer(Generic[O]):
    """A parallel MoviePy renderer: one :class:`ClipPipeline` in the shell."""

    def __init__(self, pipeline: ClipPipeline[O]) -> None:
        self.pipeline = pipeline
        self.name = pipeline.name
        self.options = pipeline.options

    def supports(self, source: Source) -> bool:
        return isinstance(source, ClipSource | ClipObject)

    def executor_reason(self, executor: str) -> str | None:
        """Why ``executor`` cannot run this renderer with default options (None: it can)."""
        try:
            self.options().check(EncoderSpec(), executor, capabilities(executor))
        except InvalidJob as exc:
            return str(exc)
        return None

    def render(self, job: RenderJob) -> RenderResult:
        """Render ``job`` with everything the parallel renderers guarantee (module docstring)."""
        started = time.perf_counter()
        if not isinstance(job.source, ClipSource | ClipObject):
            raise InvalidJob(f"{self.name} renders MoviePy clips (a ClipSource or ClipObject) only")
        options = self.options.from_mapping(self.name, job.options)
        workers = worker_count(job.workers)
        token = uuid.uuid4().hex  # names the render's clip in its workers
        settings = Settings(
            workers, address=job.dask_address, retries=job.retries,
            start_method=options.start_method, preload=WORKER_MODULES,
            forget=partial(forget_clip, token), security=job.dask_security,
        )  # fmt: skip
        executor = open_executor(job.executor, settings)  # refuses what it cannot use, now
        options.check(job.encoder, job.executor, executor.capabilities)
        clips = supply(job.source, executor, options.clip_compression)  # a clip object: pickled
        executor.open_ahead()  # a cluster starts while this process builds the clip
        try:
            clip, timeline = prepare_clip_job(job, lean=True)  # for size, timeline, audio
            parent = _ParentClip(clip, job.source)
            try:
                width, height = (int(v) for v in clip.size)
                reads_video = reads_video_files(clip)
                fast_check, fast_info = _plan_fast_path(clip, timeline, options)
                del clip  # from here on only the holder has it, so that release() frees it
                try:
                    with scratch_dir(f"renderbench-{self.name}-") as scratch:
                        recipe = clips.recipe(token, scratch)
                        source = FrameSource(recipe, job.fps, job.encoder.has_alpha, width, height)
                        render = ClipRender(
                            job, self.name, options, timeline, workers, source, scratch, executor,
                            info={"workers": workers, "executor": job.executor, **fast_info},
                            fast_check=fast_check, reads_video=reads_video,
                        )  # fmt: skip
                        result = self._render(render, parent, started)
                        clips.report(result, executor.report())
                        return result
                except RenderFailed as exc:
                    if not job.fallback:
                        raise
                    parent.release()
                    return _fallback(job, self.name, exc, started)
            finally:
                parent.release()
        finally:
            executor.close()

    def _render(self, render: ClipRender[O], parent: _ParentClip, started: float) -> RenderResult:
        job, timeline = render.job, render.timeline
        with atomic_output(job.output) as tmp:
            render.options.check_clip(render)
            audio_path = _write_audio(render, parent) if job.audio else None
            parent.release()
            video = render.scratch / f"video{job.output.suffix}"
            self.pipeline.write_video(render, video)
            report = render.executor.report()
            render.info.update(report.info)
            render.retries += len(report.rescheduled)
            render.failures.update(report.rescheduled)
            if audio_path is not None:
                with render.stages.timed("mux"):
                    mux_audio(video, audio_path, tmp)
            else:
                with writing(tmp, f"moving the video into place as {job.output.name}"):
                    shutil.move(video, tmp)
            with render.stages.timed("check"):
                written = count_packets(tmp)
            if written != timeline.frames:
                short = f"{written} of {timeline.frames} frames"
                full = cut_short(tmp, f"writing {job.output.name}", short) or cut_short(
                    render.scratch, f"writing the video of {job.output.name}", short
                )
                if full is not None:
                    raise full
                raise RenderFailed(
                    f"{render.name} wrote {written} frames, expected {timeline.frames} "
                    f"(duration {timeline.duration}s at {timeline.clock_fps:g} fps)"
                )
        return timeline.result(
            job.output, render.name, started, stages=render.stages, retries=render.retries,
            failures=render.failures,
            info={**render.info, "audio": audio_path is not None, "ffmpeg": ffmpeg_binary()},
        )  # fmt: skip


def _plan_fast_path(
    clip: VideoClip, timeline: Timeline, options: ClipOptions
) -> tuple[tuple[int, ...], dict[str, Any]]:
    """The frames to check the fast path on, or why it is off (as ``info["fast_path"]``)."""
    if not options.fast_path:
        return (), {"fast_path": {"enabled": False, "reason": "turned off (option fast_path=False)"}}
    from impls.moviepy.fastpath import frames_to_check

    frames, reason = frames_to_check(clip, timeline, options.fast_path_samples)
    if reason is not None:
        return (), {"fast_path": {"enabled": False, "reason": reason}}
    return frames, {}


class _ParentClip:
    """This process's copy of the clip (a clip object's: the caller's), until it is given up."""

    def __init__(self, clip: VideoClip, source: MoviePySource) -> None:
        self.clip: VideoClip | None = clip
        self.source = source

    def rebuild(self) -> VideoClip:
        """The clip built anew (fresh readers), in place of this one."""
        self.release()
        with lean_color_clips(), guarded():
            self.clip = self.source.load()
        return self.clip

    def release(self) -> None:
        clip, self.clip = self.clip, None
        if clip is not None:
            self.source.release(clip)
            del clip
            gc.collect()  # clips hold reference cycles: free their frame-sized arrays now


def _write_audio(render: ClipRender[O], parent: _ParentClip) -> Path | None:
    """The clip's audio track, encoded once; ``None`` when the clip is silent.

    A reader that dies while the track is read (:class:`SourceReadFailed`) is retried like a
    lost worker, at most ``job.retries`` times, on the clip built anew with fresh readers.
    """
    job = render.job
    clip = parent.clip
    assert clip is not None
    attempt = 1
    while clip.audio is not None:
        try:
            with render.stages.timed("audio"), guarded():
                return write_clip_audio(clip, render.scratch, job.encoder)
        except SourceReadFailed as exc:
            if attempt > job.retries:
                where = f"the audio track, attempt {attempt} of {job.retries + 1}"
                raise exc.during(where) from None
            render.failures["audio track"] = f"{exc}; retried"
            render.retries += 1
            attempt += 1
            del clip
            clip = parent.rebuild()
        except Exception as exc:
            full = disk_full(render.scratch, "encoding the audio track", exc, text=str(exc))
            if full is not None:
                raise full from exc
            raise RenderFailed(
                f"encoding the audio track failed: {type(exc).__name__}: {exc}"
            ) from exc
    return None


def _fallback(job: RenderJob, name: str, error: RenderFailed, started: float) -> RenderResult:
    """Redo a failed render with the baseline (which takes no options); the result says why."""
    from impls.moviepy.baseline import BaselineRenderer

    reason = f"{type(error).__name__}: {error}"
    try:
        result = BaselineRenderer().render(dataclasses.replace(job, fallback=False, options={}))
    except Exception as fallback_error:
        error.add_note(
            f"the baseline fallback failed too: {type(fallback_error).__name__}: {fallback_error}"
        )
        failed = True
    else:
        failed = False
    if failed:
        raise error  # the first failure is the one to fix; the fallback's is in its notes
    result.renderer = name
    result.fallback_used = True
    result.wall = time.perf_counter() - started
    result.info.update({"fallback_reason": reason, "fallback_from": name, "rendered_by": "baseline"})
    return result
