"""Checks every MoviePy renderer runs before starting a worker or an ffmpeg.

Bad input gets an early error naming the problem, and nothing is started, written or left.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from impls.errors import InvalidJob
from impls.ffmpeg.tools import check_container, check_ready, use_for_moviepy
from impls.model.protocol import ClipObject, ClipSource, RenderJob
from impls.model.timeline import Timeline
from impls.moviepy.audio import MOVIEPY_AUDIO_RATE
from impls.moviepy.color_clips import lean_color_clips
from impls.moviepy.readers import guarded

if TYPE_CHECKING:
    from moviepy import VideoClip


def prepare_clip_job(job: RenderJob, *, lean: bool = False) -> tuple[VideoClip, Timeline]:
    """Run every check, build the clip in this process and return it with its timeline.

    ``lean``: build it with one-pixel ColorClips (:mod:`impls.moviepy.color_clips`), for a caller that
    needs only the clip's size, timeline and audio, never its frames; its MoviePy readers are
    then :func:`impls.moviepy.readers.guarded` too (the baseline's are MoviePy's own). A clip
    object is the caller's clip itself, built already (and never closed here).

    A progress callback with a ``set_total(frames)`` method (``impls.runtime.progress``) learns the
    frame count here, so a progress bar needs no clip of its own (building one can take
    seconds).
    """
    source = job.source
    if not isinstance(source, ClipSource | ClipObject):
        raise InvalidJob(f"{type(source).__name__} is not a MoviePy ClipSource or ClipObject")
    check_ready(job.output, job.encoder)
    use_for_moviepy()
    with lean_color_clips() if lean else contextlib.nullcontext(), guarded() if lean else (
        contextlib.nullcontext()
    ):
        clip = source.load()
    try:
        timeline = Timeline.for_clip(clip, job.fps)
        width, height = clip.size
        job.encoder.check_size(int(width), int(height))
        audio = job.audio and clip.audio is not None
        check_container(job.encoder, job.output, audio_rate=MOVIEPY_AUDIO_RATE if audio else None)
        set_total = getattr(job.progress, "set_total", None)
        if callable(set_total):
            set_total(timeline.frames)
    except BaseException:
        source.release(clip)
        raise
    return clip, timeline
