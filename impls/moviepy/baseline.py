"""``baseline``: MoviePy's own ``write_videofile``, single process, untouched.

The reference every number is compared with, so it runs MoviePy's real path; renderbench only
chooses its arguments (from the same :class:`EncoderSpec`), points it at the shared ffmpeg,
keeps its temporary audio file out of the working directory and makes the output atomic. A
clip object (the caller's clip) is rendered as it is, and left open.
"""

from __future__ import annotations

import time
from typing import Any

from impls.errors import InvalidJob, RenderFailed
from impls.ffmpeg.files import NEARLY_FULL, atomic_output, disk_full, filesystem, past_size_limit, scratch_dir
from impls.ffmpeg.probe import count_packets
from impls.ffmpeg.tools import ffmpeg_binary
from impls.model.options import Options
from impls.model.protocol import ClipObject, ClipSource, RenderJob, RenderResult, Source
from impls.moviepy.audio import audio_extension
from impls.moviepy.preflight import prepare_clip_job


class _ProgressLogger:
    """A proglog logger that forwards MoviePy's frame counter to a job's progress callback."""

    def __new__(cls, job: RenderJob) -> Any:
        from proglog import ProgressBarLogger

        class Logger(ProgressBarLogger):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__()
                self._last = 0

            def bars_callback(self, bar: str, attr: str, value: Any, old_value: Any = None) -> None:
                if bar == "frame_index" and attr == "index" and job.progress is not None:
                    # proglog sets index i as frame i is handed out and n after the last one,
                    # so the index is the number of frames finished.
                    done = int(value)
                    if done > self._last:
                        job.progress(done - self._last)
                        self._last = done

        return Logger()


class BaselineRenderer:
    """MoviePy ``write_videofile`` in this process."""

    name = "baseline"
    options = Options  # none: MoviePy as it is

    def supports(self, source: Source) -> bool:
        return isinstance(source, ClipSource | ClipObject)

    def render(self, job: RenderJob) -> RenderResult:
        source = job.source
        if not isinstance(source, ClipSource | ClipObject):
            raise InvalidJob("baseline renders MoviePy clips (a ClipSource or ClipObject) only")
        self.options.from_mapping(self.name, job.options)
        spec = job.encoder
        if spec.codec in {"libx264", "h264_nvenc"} and spec.pix_fmt != "yuv420p":
            # MoviePy 2.2 appends `-pix_fmt yuva420p` for these codecs, which ffmpeg turns into
            # yuv420p; a different pix_fmt cannot be asked of it.
            raise InvalidJob(
                f"baseline (MoviePy write_videofile) always writes yuv420p with {spec.codec}; "
                f"pix_fmt {spec.pix_fmt!r} is not possible"
            )
        started = time.perf_counter()
        clip, timeline = prepare_clip_job(job)
        params: list[str] = []
        if spec.crf is not None:
            params += ["-crf", str(spec.crf)]
        if spec.codec not in {"libx264", "h264_nvenc"}:
            params += ["-pix_fmt", spec.pix_fmt]
        params += list(spec.extra)
        try:
            with scratch_dir("renderbench-baseline-") as scratch, atomic_output(
                job.output
            ) as tmp:
                audio_file = scratch / f"audio.{audio_extension(spec.audio_codec)}"
                try:
                    clip.write_videofile(
                        str(tmp), fps=timeline.clock_fps, codec=spec.codec, bitrate=spec.bitrate,
                        preset=spec.preset or "medium", threads=spec.threads, ffmpeg_params=params,
                        audio=job.audio and clip.audio is not None, audio_codec=spec.audio_codec,
                        audio_bitrate=spec.audio_bitrate, temp_audiofile=str(audio_file),
                        logger=_ProgressLogger(job) if job.progress else None,
                    )  # fmt: skip
                except OSError as exc:
                    # MoviePy's message quotes ffmpeg's and names the file it was writing.
                    text = str(exc)
                    written = audio_file if str(audio_file) in text else tmp
                    what = f"MoviePy write_videofile writing {written.name}"
                    full = disk_full(written, what, exc, text) or past_size_limit(written, what)
                    if full is not None:
                        raise full from exc
                    raise
                if filesystem(tmp).free < NEARLY_FULL:
                    count_packets(tmp)  # MoviePy ignores ffmpeg's exit status: is it complete?
        except OSError as exc:
            raise RenderFailed(f"MoviePy write_videofile failed: {exc}") from exc
        finally:
            source.release(clip)
        info = {"ffmpeg": ffmpeg_binary(), "moviepy_rate_arg": "%.02f" % timeline.clock_fps}
        result = timeline.result(job.output, self.name, started, info=info)
        result.stages["write_videofile"] = result.wall
        return result
