"""Clip factories with a fault injected at one frame, for the failure tests.

They wrap the ``frame_index`` workload, so a render that survives the fault can be compared
with the baseline's frame_index output. Faults fire in worker processes only unless said
otherwise (the parent builds the clip for its checks but never computes a frame).
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

from harness.workloads import frame_index

FAULTS = ("raise", "raise_in_worker", "kill_once", "kill_always", "hang")


class Boom(Exception):
    """A user exception with its own constructor (such exceptions often do not pickle)."""

    def __init__(self, index: int, why: str) -> None:
        super().__init__(f"boom at frame {index}: {why}")
        self.index = index


def make(fault: str, at: int, marker: str | None = None, **kwargs: Any) -> Any:
    """frame_index clip whose frame ``at`` fails per ``fault``.

    raise: every process raises; raise_in_worker: only pool workers raise (the parent's
    baseline fallback renders it fine); kill_once: the first worker to reach the frame
    SIGKILLs itself (``marker`` records that it happened); kill_always: every worker does;
    hang: the frame never returns.
    """
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}")
    clip = frame_index.make(**kwargs)
    fps = clip.fps
    inner = clip.frame_function

    def frame_function(t: float) -> Any:
        index = int(round(t * fps))
        if index == at:
            in_worker = multiprocessing.parent_process() is not None
            if fault == "raise" or (fault == "raise_in_worker" and in_worker):
                raise Boom(index, "user code failed")
            if fault == "kill_always" and in_worker:
                os.kill(os.getpid(), signal.SIGKILL)
            if fault == "kill_once" and in_worker and marker and not Path(marker).exists():
                Path(marker).write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
            if fault == "hang" and in_worker:
                time.sleep(3600)
        return inner(t)

    return clip.with_updated_frame_function(frame_function)


def slow(delay: float, started: str | None = None, **kwargs: Any) -> Any:
    """frame_index clip whose every frame takes ``delay`` seconds in a pool worker.

    The first frame a worker computes creates the file ``started``: a test waits for it to
    know that the render is under way (workers started, frames being computed).
    """
    clip = frame_index.make(**kwargs)
    inner = clip.frame_function

    def frame_function(t: float) -> Any:
        if multiprocessing.parent_process() is not None:
            if started and not Path(started).exists():
                Path(started).write_text(str(os.getpid()))
            time.sleep(delay)
        return inner(t)

    return clip.with_updated_frame_function(frame_function)


def attempts(at: int, log: str, **kwargs: Any) -> Any:
    """frame_index clip whose frame ``at`` raises in workers, appending a line to ``log`` first.

    The number of lines is the number of times a worker tried the frame.
    """
    clip = frame_index.make(**kwargs)
    fps = clip.fps
    inner = clip.frame_function

    def frame_function(t: float) -> Any:
        index = int(round(t * fps))
        if index == at and multiprocessing.parent_process() is not None:
            with open(log, "a") as out:
                out.write(f"{os.getpid()}\n")
            raise Boom(index, "deterministic user error")
        return inner(t)

    return clip.with_updated_frame_function(frame_function)


BAD = (
    "duration_none", "duration_zero", "duration_negative", "not_a_clip",
    "fps_zero", "fps_negative", "fps_nan", "fps_none", "odd",
)  # fmt: skip


def bad(kind: str, **kwargs: Any) -> Any:
    """What a careless factory returns; ``kind`` is one of :data:`BAD`."""
    from moviepy import VideoClip

    if kind not in BAD:
        raise ValueError(f"unknown kind {kind!r}")
    if kind == "not_a_clip":
        return frame_index.draw(0, 16, 16)
    if kind == "odd":
        return frame_index.make(**{**kwargs, "width": 161, "height": 91})
    clip = frame_index.make(**kwargs)
    if kind.startswith("duration_"):
        duration = {"duration_none": None, "duration_zero": 0, "duration_negative": -1.0}[kind]
        clip = VideoClip(clip.frame_function, duration=None).with_fps(clip.fps)
        clip.duration = clip.end = duration  # set as a careless subclass would, past MoviePy's checks
        return clip
    clip.fps = {"fps_zero": 0, "fps_negative": -30, "fps_nan": float("nan"), "fps_none": None}[kind]
    return clip


def die_after(delay: float) -> None:
    """A pool task whose worker SIGKILLs itself after ``delay`` seconds."""
    time.sleep(delay)
    os.kill(os.getpid(), signal.SIGKILL)


def reader_dies(
    source: str, marker: str, at: int = -1, audio_at: float = -1.0, started: str | None = None
) -> Any:
    """An edit of the video file ``source`` (two cuts and a banner) whose real MoviePy reader
    is SIGKILLed once, as the OOM killer would.

    ``at`` >= 0: a pool worker kills its reader of ``source`` just before reading frame ``at``.
    ``audio_at`` >= 0: the rendering process (which encodes the audio track) kills the audio
    reader once the track reaches that time. ``marker`` records the kill, so that a retry (a
    fresh clip from this factory) reads on. ``started``: a file the first frame a worker
    computes creates.
    """
    import numpy as np
    from moviepy import AudioClip, ColorClip, CompositeVideoClip, VideoFileClip
    from moviepy import concatenate_videoclips

    # Audio read in small buffers, so that reads follow the kill (MoviePy's default buffer
    # holds 4.5 s, more than the whole test file).
    video = VideoFileClip(source, audio_buffersize=8000)
    half = video.duration / 2
    edit = concatenate_videoclips([video.subclipped(half, 2 * half), video.subclipped(0, half)])
    banner = (
        ColorClip((video.w, video.h // 4), color=(200, 30, 30))
        .with_opacity(0.6)
        .with_duration(edit.duration)
        .with_position(("center", "bottom"))
    )
    clip = CompositeVideoClip([edit, banner])
    fps = clip.fps

    def kill_reader(reader: Any) -> None:
        Path(marker).write_text(str(os.getpid()))
        reader.proc.kill()
        reader.proc.wait()

    inner = clip.frame_function

    def frame_function(t: float) -> Any:
        index = int(round(t * fps))
        in_worker = multiprocessing.parent_process() is not None
        if in_worker and started and not Path(started).exists():
            Path(started).write_text(str(os.getpid()))
        if index == at and in_worker and not Path(marker).exists():
            kill_reader(video.reader)
        return inner(t)

    clip = clip.with_updated_frame_function(frame_function)
    audio = video.audio
    if audio is not None:  # the file's whole track, read through (and maybe killed) here
        audio_reader = audio.reader

        def samples(t: Any) -> Any:
            latest = float(np.max(t))
            in_worker = multiprocessing.parent_process() is not None
            if 0 <= audio_at <= latest and not in_worker and not Path(marker).exists():
                kill_reader(audio_reader)
            return audio.get_frame(t)

        clip = clip.with_audio(AudioClip(samples, duration=audio.duration, fps=audio.fps))
    # MoviePy's close() of a composite leaves the file clips inside it open (their ffmpeg
    # processes then end with the garbage collector, which the tests count as a leak).
    close_composite = clip.close

    def close() -> None:
        close_composite()
        video.close()

    clip.close = close
    return clip


def fill_filesystem(hog: str) -> None:
    """Write ``hog`` until its filesystem takes no more (once: the file is created exclusively,
    so of two workers only the first fills it). Other programs filling a disk look like this."""
    try:
        fd = os.open(hog, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb", buffering=0) as out:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
            block = b"\0" * size
            try:
                while True:
                    out.write(block)
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                    raise


def fills_disk(hog: str, at: int = -1, audio_at: float = -1.0, **kwargs: Any) -> Any:
    """frame_index clip that fills the filesystem holding ``hog`` mid-render.

    ``at`` >= 0: frame ``at`` fills it, in whichever process computes the frame (a worker, or
    the baseline's own process). ``audio_at`` >= 0: the clip has a sound track, and reading it
    past that time fills the filesystem (the rendering process encodes the track).
    """
    from moviepy import AudioClip

    clip = frame_index.make(**kwargs)
    fps = clip.fps
    inner = clip.frame_function

    def frame_function(t: float) -> Any:
        if int(round(t * fps)) == at:
            fill_filesystem(hog)
        return inner(t)

    clip = clip.with_updated_frame_function(frame_function)
    if audio_at >= 0:
        import numpy as np

        def sound(t: Any) -> Any:
            if float(np.max(t)) >= audio_at:
                fill_filesystem(hog)
            return 0.2 * np.sin(2 * np.pi * 440 * np.asarray(t))

        clip = clip.with_audio(AudioClip(sound, duration=clip.duration, fps=44100))
    return clip


def noisy(**kwargs: Any) -> Any:
    """frame_index clip with noise over every frame (the same noise each time): its video
    compresses badly, so a short lossless render makes a large file."""
    import numpy as np

    clip = frame_index.make(**kwargs)
    fps = clip.fps
    inner = clip.frame_function

    def frame_function(t: float) -> Any:
        frame = inner(t)
        noise = np.random.default_rng(int(round(t * fps))).integers(0, 64, frame.shape, dtype=np.uint8)
        return frame ^ noise

    return clip.with_updated_frame_function(frame_function)


def from_file(video: str = "", audio: str = "", **kwargs: Any) -> Any:
    """A clip read from a media file (``video``), or frame_index with a sound track read from
    one (``audio``): what a factory does with the files a user hands it."""
    from moviepy import AudioFileClip, VideoFileClip

    if video:
        return VideoFileClip(video)
    return frame_index.make(**kwargs).with_audio(AudioFileClip(audio))


def hogs_memory(at: int, cgroup: str = "", **kwargs: Any) -> Any:
    """frame_index clip whose frame ``at`` makes its worker run out of memory, in a pool worker.

    ``cgroup``: a memory cgroup (v1 or v2 directory) with a small limit: the worker moves into
    it and allocates until the kernel's OOM killer ends it (SIGKILL). Without one, the worker
    limits its own address space (RLIMIT_AS, 384 MiB above its size), allocates until that
    refuses, holds the memory a moment and SIGKILLs itself, as the OOM killer would. Either
    way it allocates 2 GiB at most, should no limit hold.
    """
    import resource

    import numpy as np
    import psutil

    clip = frame_index.make(**kwargs)
    fps = clip.fps
    inner = clip.frame_function

    def frame_function(t: float) -> Any:
        if int(round(t * fps)) == at and multiprocessing.parent_process() is not None:
            if cgroup:
                Path(cgroup, "cgroup.procs").write_text(str(os.getpid()))
            else:
                vms = psutil.Process().memory_info().vms
                resource.setrlimit(resource.RLIMIT_AS, (vms + (384 << 20), resource.RLIM_INFINITY))
            held = []
            try:
                for _ in range(128):  # 16 MiB a step, touched so that it is resident
                    held.append(np.ones(16 << 20, dtype=np.uint8))
                    time.sleep(0.02)
            except MemoryError:
                time.sleep(0.5)  # as a process at its limit does before the killer comes
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("no memory limit held: 2 GiB allocated without being killed")
        return inner(t)

    return clip.with_updated_frame_function(frame_function)
