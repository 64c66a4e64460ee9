"""What the parallel MoviePy renderers (``disk``, ``pipe``, ``chunk``) share around their pipeline.

:func:`render_clip` runs one render: preflight (every check before any worker or ffmpeg
starts), a private scratch directory, the audio track encoded once, the parent's own copy of
the clip released, the renderer's pipeline writing a video-only file, the audio muxed once, the
frame count checked, the output renamed into place atomically. On failure nothing is left: no
file at the output path, no scratch directory, no worker (the dispatcher kills the pool). With
``job.fallback`` a failed render is redone by the baseline and the result says so.

Memory: every worker holds its own clip, and the parent one more for its size, timeline and
audio, all lean (their ColorClips hold one pixel, see :mod:`impls.moviepy.color_clips`: ~120 MB for the
1080p slideshow, not ~620 MB). The parent still gives its copy up once the audio is written,
before the first worker starts; a render then holds ``workers`` clips, not one more.
Audio first, not on a thread beside the frames, for that reason: it costs ~1 % of the frames'
time (0.3 s per 10 s of clip). A Dask cluster's processes start earlier, while this process
builds the clip (they take a second or more to start), but each builds its clip only with its
first task, after the parent's copy is gone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from impls.ffmpeg.files import atomic_output, scratch_dir
from impls.ffmpeg.operations import mux_audio
from impls.ffmpeg.probe import count_packets
from impls.ffmpeg.tools import ffmpeg_binary
from impls.moviepy.audio import write_clip_audio
from impls.runtime.dispatch import Dispatcher
from impls.moviepy.color_clips import lean_color_clips
from impls.errors import InvalidJob, RenderFailed, SourceReadFailed
from impls.runtime.local import PoolOpener, discard_unused, open_ahead, pool_opener, start_method
from impls.moviepy.worker import FrameSource
from impls.moviepy.preflight import prepare_clip_job, resolve_workers
from impls.model.protocol import ClipSource, RenderJob, RenderResult, Source
from impls.moviepy.readers import guarded
from impls.model.timeline import Timeline

if TYPE_CHECKING:
    from moviepy import VideoClip


@dataclasses.dataclass
class ClipRender:
    """One parallel render in progress, as a pipeline sees it."""

    job: RenderJob
    name: str
    timeline: Timeline
    workers: int
    source: FrameSource
    scratch: Path
    pools: PoolOpener
    stages: dict[str, float] = dataclasses.field(default_factory=dict)
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    retries: int = 0
    failures: dict[str, str] = dataclasses.field(default_factory=dict)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage into ``stages[name]`` (added to, if the stage repeats)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - started

    @contextlib.contextmanager
    def dispatcher(self, window: int, *, ordered: bool = False) -> Iterator[Dispatcher[Any]]:
        """A dispatcher for this render's tasks; its retries and failures land in the result."""
        dispatch: Dispatcher[Any] = Dispatcher(self.job, self.pools, window, ordered=ordered)
        try:
            with dispatch:
                yield dispatch
        finally:
            self.retries += dispatch.retries
            self.failures.update(dispatch.failures)


Pipeline = Callable[[ClipRender, Path], None]
"""Writes the video-only stream of the render into the given path (in the scratch dir)."""


def int_option(
    options: Mapping[str, Any], key: str, default: int, *, low: int = 1, high: int | None = None
) -> int:
    """An integer option checked early, with a message naming the option and its bounds."""
    value = options.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidJob(f"option {key!r} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise InvalidJob(f"option {key!r} must be {bounds}, got {value}")
    return value


def choice_option(options: Mapping[str, Any], key: str, default: str, allowed: tuple[str, ...]) -> str:
    value = options.get(key, default)
    if value is None:
        return default
    if value not in allowed:
        raise InvalidJob(f"option {key!r} must be one of {', '.join(allowed)}; got {value!r}")
    return str(value)


def supports_clip(source: Source) -> bool:
    return isinstance(source, ClipSource)


def render_clip(
    job: RenderJob,
    name: str,
    pipeline: Pipeline,
    *,
    check: Callable[[RenderJob, int], dict[str, Any]] | None = None,
    prepare: Callable[[ClipRender], None] | None = None,
) -> RenderResult:
    """Render ``job`` with ``pipeline`` and everything the parallel renderers guarantee.

    ``check(job, workers)`` validates the renderer's own options before anything starts and
    returns them for ``info``; ``prepare(render)`` runs checks that need the clip, still before
    any worker or ffmpeg starts.
    """
    started = time.perf_counter()
    if not isinstance(job.source, ClipSource):
        raise InvalidJob(f"{name} renders MoviePy clips (ClipSource) only")
    workers = resolve_workers(job)
    info: dict[str, Any] = {"workers": workers, "executor": job.executor}
    pools = pool_opener(job, workers)  # refuses an unsupported executor before anything starts
    if job.executor == "local":
        info["start_method"] = start_method(job)
    if check is not None:
        info.update(check(job, workers))
    open_ahead(pools)  # a Dask cluster starts while this process builds the clip
    try:
        clip, timeline = prepare_clip_job(job, lean=True)  # for size, timeline, audio
    except BaseException:
        discard_unused(pools)
        raise
    holder = _ParentClip(clip)
    try:
        width, height = (int(v) for v in clip.size)
        del clip  # from here on only the holder has it, so that release() frees it
        source = FrameSource(
            clip=job.source,
            fps=job.fps,
            alpha=job.encoder.has_alpha,
            width=width,
            height=height,
            token=uuid.uuid4().hex,
        )
        try:
            return _render(
                job, name, pipeline, prepare, holder, timeline, workers, source, pools, info,
                started,
            )  # fmt: skip
        except RenderFailed as exc:
            if not job.fallback:
                raise
            holder.release()
            return _fallback(job, name, exc, started)
    finally:
        holder.release()
        discard_unused(pools)


class _ParentClip:
    """The parent's copy of the clip, until it is given up."""

    def __init__(self, clip: VideoClip) -> None:
        self.clip: VideoClip | None = clip

    def rebuild(self, source: ClipSource) -> VideoClip:
        """The clip built anew (fresh readers), in place of this one."""
        self.release()
        with lean_color_clips(), guarded():
            self.clip = source.load()
        return self.clip

    def release(self) -> None:
        clip, self.clip = self.clip, None
        if clip is not None:
            clip.close()
            del clip
            gc.collect()  # clips hold reference cycles: free their frame-sized arrays now


def _render(
    job: RenderJob,
    name: str,
    pipeline: Pipeline,
    prepare: Callable[[ClipRender], None] | None,
    parent_clip: _ParentClip,
    timeline: Timeline,
    workers: int,
    source: FrameSource,
    pools: PoolOpener,
    info: dict[str, Any],
    started: float,
) -> RenderResult:
    with scratch_dir(f"renderbench-{name}-") as scratch, atomic_output(
        job.output
    ) as tmp:
        render = ClipRender(job, name, timeline, workers, source, scratch, pools, info=info)
        if prepare is not None:
            prepare(render)
        audio_path = _write_audio(render, parent_clip) if job.audio else None
        parent_clip.release()
        video = scratch / f"video{job.output.suffix}"
        pipeline(render, video)
        _note_dask(render)
        if audio_path is not None:
            with render.stage("mux"):
                mux_audio(video, audio_path, tmp)
        else:
            shutil.move(video, tmp)
        with render.stage("check"):
            written = count_packets(tmp)
        if written != timeline.frames:
            raise RenderFailed(
                f"{name} wrote {written} frames, expected {timeline.frames} "
                f"(duration {timeline.duration}s at {timeline.clock_fps:g} fps)"
            )
    return RenderResult(
        output=Path(job.output),
        renderer=name,
        frames=timeline.frames,
        duration=timeline.video_duration,
        fps=timeline.rate,
        wall=time.perf_counter() - started,
        stages=render.stages,
        retries=render.retries,
        failures=render.failures,
        info={**render.info, "audio": audio_path is not None, "ffmpeg": ffmpeg_binary()},
    )


def _write_audio(render: ClipRender, parent: _ParentClip) -> Path | None:
    """The clip's audio track, encoded once; ``None`` when the clip is silent.

    A reader that dies while the track is read (:class:`SourceReadFailed`) is retried like a
    lost worker, at most ``job.retries`` times, on the clip built anew with fresh readers.
    """
    job = render.job
    clip = parent.clip
    assert clip is not None and isinstance(job.source, ClipSource)
    attempt = 1
    while clip.audio is not None:
        try:
            with render.stage("audio"), guarded():
                return write_clip_audio(clip, render.scratch, job.encoder)
        except SourceReadFailed as exc:
            if attempt > job.retries:
                where = f"the audio track, attempt {attempt} of {job.retries + 1}"
                raise exc.during(where) from None
            render.failures["audio track"] = f"{exc}; retried"
            render.retries += 1
            attempt += 1
            del clip
            clip = parent.rebuild(job.source)
        except Exception as exc:
            raise RenderFailed(
                f"encoding the audio track failed: {type(exc).__name__}: {exc}"
            ) from exc
    return None


def _note_dask(render: ClipRender) -> None:
    """Where a Dask render ran, and the tasks Dask rescheduled after losing their worker."""
    summary = getattr(render.pools, "summary", None)
    if render.job.executor != "dask" or not callable(summary):
        return
    dask: dict[str, Any] = summary()
    render.info["dask"] = dask
    render.retries += len(dask["rescheduled"])
    for key in dask["rescheduled"]:
        render.failures[f"task {key}"] = "worker lost; rescheduled by Dask"


def _fallback(job: RenderJob, name: str, error: RenderFailed, started: float) -> RenderResult:
    """Redo a failed render with the baseline; the result records why."""
    from impls.moviepy.baseline import BaselineRenderer

    reason = f"{type(error).__name__}: {error}"
    try:
        result = BaselineRenderer().render(dataclasses.replace(job, fallback=False))
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
