"""MoviePy's own call, rendered in parallel: ``impls.write_videofile(clip, "out.mp4", ...)``.

The one-line change from ``clip.write_videofile("out.mp4", ...)``: the same parameters with
MoviePy 2.2's defaults, mapped onto the protocol so that the output matches MoviePy's as closely
as the renderer allows (with a lossless encoder the decoded frames are equal):

- ``codec`` is chosen from the extension as MoviePy does (``.mp4`` libx264, ``.webm`` libvpx,
  ``.ogv`` libtheora, ``.mov`` libx264, ``.mkv`` libx264); ``preset`` (default ``"medium"``),
  ``bitrate``, ``threads`` and ``ffmpeg_params`` reach the encoder as MoviePy passes them: no
  crf unless ``ffmpeg_params`` has one (x264's own default is 23), ``-crf``/``-pix_fmt`` in
  ``ffmpeg_params`` are read into the :class:`EncoderSpec` fields.
- The pixel format is MoviePy's: yuv420p for libx264 at even sizes (MoviePy asks for
  yuva420p, which x264 turns into yuv420p), yuva420p for libvpx on a clip with a mask, else
  what ffmpeg picks for MoviePy's input (rgb24, rgba for a clip with a mask), asked of ffmpeg
  once per codec. ``pixel_format``, which MoviePy 2.2 accepts and then drops, is honoured here
  as the output's pixel format.
- The frames are rendered from the caller's clip itself (a
  :class:`~impls.model.protocol.ClipObject`, pickled once for the workers), video only.
- The audio is made exactly as MoviePy makes it, in this process, once the frames are done:
  the clip's audio written by MoviePy's ``write_audiofile`` with ``audio_fps``,
  ``audio_nbytes``, ``audio_bufsize``, ``audio_codec`` (default libmp3lame; libvorbis for
  .ogv/.webm) and ``audio_bitrate`` into ``temp_audiofile`` (default: MoviePy's name in
  ``temp_audiofile_path``), muxed without re-encoding and removed when ``remove_temp``; an
  audio file given as ``audio="file"`` is encoded with ``audio_codec`` while muxing.
- ``logger``: ``"bar"`` draws renderbench's progress bar (when stderr is a terminal), ``None``
  draws none, a proglog logger receives the ``frame_index`` bar's total and index.

Everything MoviePy's call takes is honoured or refused: ``write_logfile=True`` (MoviePy's log
of its single ffmpeg) exists only with ``method="baseline"``, which is MoviePy's own
``write_videofile`` called with every argument as given; an unknown keyword is an
:class:`InvalidJob` naming it. renderbench's own options are keyword-only: ``method``,
``workers``, ``executor``, ``dask_address``, ``timeout``, ``retries``, ``fallback``,
``progress`` (overrides ``logger``'s bar) and ``options``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from impls.api import render
from impls.errors import InvalidJob, InvalidSource, RenderFailed
from impls.ffmpeg.files import atomic_output, check_output_path, scratch_dir
from impls.ffmpeg.operations import mux_audio
from impls.ffmpeg.probe import video_pix_fmt
from impls.ffmpeg.process import run
from impls.ffmpeg.tools import check_container, check_encoder, check_tools, use_for_moviepy
from impls.model.protocol import ClipObject, EncoderSpec, RenderResult, exact_fps
from impls.model.timeline import Timeline
from impls.runtime.executor import DEFAULT_EXECUTOR

#: MoviePy 2.2's ``VideoClip.write_videofile`` parameters after ``filename``, with its defaults.
MOVIEPY_DEFAULTS: dict[str, Any] = {
    "fps": None,
    "codec": None,
    "bitrate": None,
    "audio": True,
    "audio_fps": 44100,
    "preset": "medium",
    "audio_nbytes": 4,
    "audio_codec": None,
    "audio_bitrate": None,
    "audio_bufsize": 2000,
    "temp_audiofile": None,
    "temp_audiofile_path": "",
    "remove_temp": True,
    "write_logfile": False,
    "threads": None,
    "ffmpeg_params": None,
    "logger": "bar",
    "pixel_format": None,
}

#: renderbench's own keyword-only options.
RENDERBENCH_OPTIONS = (
    "method", "workers", "executor", "dask_address", "timeout", "retries", "fallback",
    "progress", "options",
)  # fmt: skip

_H264 = ("libx264", "h264_nvenc")


def write_videofile(
    clip: Any,
    filename: str | os.PathLike[str],
    fps: float | None = None,
    codec: str | None = None,
    bitrate: str | None = None,
    audio: bool | str | os.PathLike[str] = True,
    audio_fps: int = 44100,
    preset: str = "medium",
    audio_nbytes: int = 4,
    audio_codec: str | None = None,
    audio_bitrate: str | None = None,
    audio_bufsize: int = 2000,
    temp_audiofile: str | os.PathLike[str] | None = None,
    temp_audiofile_path: str | os.PathLike[str] = "",
    remove_temp: bool = True,
    write_logfile: bool = False,
    threads: int | None = None,
    ffmpeg_params: Sequence[str] | None = None,
    logger: Any = "bar",
    pixel_format: str | None = None,
    *,
    method: str = "auto",
    workers: int | None = None,
    executor: str = DEFAULT_EXECUTOR,
    dask_address: str | None = None,
    timeout: float | None = None,
    retries: int = 1,
    fallback: bool = False,
    progress: bool | Literal["always"] | Callable[[int], None] | None = None,
    options: Mapping[str, Any] | None = None,
    **unknown: Any,
) -> RenderResult:
    """Write ``clip`` to ``filename`` like ``clip.write_videofile(filename, ...)``, in parallel.

    Returns the :class:`RenderResult` (MoviePy returns nothing). Errors are
    :mod:`impls.errors` types; on failure nothing is left at ``filename`` and no temporary
    audio file remains.
    """
    if unknown:
        names = ", ".join(sorted(unknown))
        raise InvalidJob(
            f"write_videofile got unknown argument(s) {names}: MoviePy 2.2's write_videofile "
            f"takes {', '.join(MOVIEPY_DEFAULTS)}; renderbench adds {', '.join(RENDERBENCH_OPTIONS)}"
        )
    given = {
        "fps": fps, "codec": codec, "bitrate": bitrate, "audio": audio, "audio_fps": audio_fps,
        "preset": preset, "audio_nbytes": audio_nbytes, "audio_codec": audio_codec,
        "audio_bitrate": audio_bitrate, "audio_bufsize": audio_bufsize,
        "temp_audiofile": temp_audiofile, "temp_audiofile_path": temp_audiofile_path,
        "remove_temp": remove_temp, "write_logfile": write_logfile, "threads": threads,
        "ffmpeg_params": ffmpeg_params, "logger": logger, "pixel_format": pixel_format,
    }  # fmt: skip
    clip = _video_clip(clip)
    output = Path(os.fspath(filename))
    if method == "baseline":
        return _moviepy_itself(clip, output, given)
    if write_logfile:
        raise InvalidJob(
            "write_logfile=True writes the log of MoviePy's one ffmpeg, which a parallel render "
            "does not have; drop it, or use method='baseline' (MoviePy's own write_videofile)"
        )
    call = _Call(clip, output, given)
    chosen = call.progress if progress is None else progress
    started = time.perf_counter()
    check_tools()
    check_output_path(output)
    encoder = call.encoder()
    check_encoder(encoder)
    check_container(encoder, output, audio_rate=audio_fps if call.has_audio else None)
    with scratch_dir("renderbench-write-") as scratch:
        # The frames first (a clip that cannot be sent to the workers fails before anything
        # is written), into the output itself when there is no audio to mux.
        video = scratch / f"video{output.suffix}" if call.has_audio else output
        result = render(
            ClipObject(call.clip), video, method=method, workers=workers, encoder=encoder,
            audio=False, fallback=fallback, progress=chosen, executor=executor,
            dask_address=dask_address, timeout=timeout, retries=retries, options=options,
        )  # fmt: skip
        if call.has_audio:
            with call.audio_track() as track, atomic_output(output) as tmp:
                mux_started = time.perf_counter()
                call.mux(video, track, tmp)
                result.stages["mux_audio"] = time.perf_counter() - mux_started
    result.output = output
    result.stages.update(call.stages)
    result.wall = time.perf_counter() - started
    result.info["audio"] = call.has_audio
    result.info["write_videofile"] = call.describe(encoder)
    return result


def _video_clip(clip: Any) -> Any:
    from moviepy import VideoClip

    if not isinstance(clip, VideoClip):
        raise InvalidSource(f"write_videofile needs a MoviePy VideoClip, got {type(clip).__name__}")
    if clip.is_mask:  # as MoviePy's @convert_masks_to_RGB
        clip = clip.to_RGB()
    return clip


class _Call:
    """One ``write_videofile`` call's arguments, resolved as MoviePy resolves them."""

    def __init__(self, clip: Any, output: Path, given: dict[str, Any]) -> None:
        from moviepy.tools import extensions_dict

        self.output = output
        self.given = given
        self.stages: dict[str, float] = {}
        if given["fps"] is not None:
            # Frames at i / fps with fps as given (a NumPy float64 of it), as MoviePy's
            # iter_frames(fps=...) computes them: the clip's own fps set to it.
            exact_fps(given["fps"])  # validates
            clip = clip.with_fps(given["fps"])
        if getattr(clip, "fps", None) is None:
            raise InvalidJob("the clip has no fps: set clip.fps or pass fps= to write_videofile")
        self.clip = clip
        self.ext = output.suffix[1:].lower()
        codec = given["codec"]
        if codec is None:
            try:
                codec = extensions_dict[self.ext]["codec"][0]
            except KeyError:
                raise InvalidJob(
                    f"MoviePy has no codec for the extension {output.suffix or '(none)'!r}: pass "
                    "codec= to write_videofile"
                ) from None
        self.codec: str = codec
        audio_codec = given["audio_codec"]
        if audio_codec is None:
            audio_codec = "libvorbis" if self.ext in {"ogv", "webm"} else "libmp3lame"
        self.audio_codec: str = {"raw16": "pcm_s16le", "raw32": "pcm_s32le"}.get(audio_codec, audio_codec)
        audio = given["audio"]
        self.audio_file: str | None = os.fspath(audio) if isinstance(audio, str | os.PathLike) else None
        if self.audio_file is not None and not Path(self.audio_file).is_file():
            raise InvalidSource(f"audio file {self.audio_file} does not exist")
        self.make_audio = self.audio_file is None and audio is True and clip.audio is not None
        self.progress = _progress_for(given["logger"])

    @property
    def has_audio(self) -> bool:
        return self.make_audio or self.audio_file is not None

    def encoder(self) -> EncoderSpec:
        crf, pix_fmt, extra = _split_params(self.given["ffmpeg_params"])
        width, height = (int(v) for v in self.clip.size)
        alpha = self.clip.mask is not None
        if self.codec in _H264 and width % 2 == 0 and height % 2 == 0:
            pix_fmt = "yuv420p"  # MoviePy's trailing -pix_fmt yuva420p, which x264 reads so
        elif self.codec == "libvpx" and alpha:
            pix_fmt = "yuva420p"
            extra += ["-auto-alt-ref", "0"]
        if self.given["pixel_format"] is not None:
            pix_fmt = str(self.given["pixel_format"])
        if pix_fmt is None:
            pix_fmt = ffmpeg_pix_fmt(self.codec, "rgba" if alpha else "rgb24", self.output.suffix)
        preset = self.given["preset"]
        return EncoderSpec(
            codec=self.codec,
            preset=None if preset is None else str(preset),
            crf=crf,
            pix_fmt=pix_fmt,
            threads=self.given["threads"],
            bitrate=self.given["bitrate"],
            extra=tuple(extra),
            audio_codec=self.audio_codec,
            audio_bitrate=self.given["audio_bitrate"],
        )

    @contextlib.contextmanager
    def audio_track(self) -> Iterator[Path]:
        """The audio file to mux: the one given, or the clip's audio written as MoviePy writes it.

        A track this call wrote is removed afterwards when ``remove_temp`` (MoviePy's rule),
        and always when the mux fails.
        """
        if self.audio_file is not None:
            yield Path(self.audio_file)
            return
        from moviepy.Clip import Clip
        from moviepy.tools import find_extension

        given = self.given
        if given["temp_audiofile"]:
            path = Path(os.fspath(given["temp_audiofile"]))
        else:
            try:
                extension = find_extension(self.audio_codec)
            except ValueError as exc:
                raise InvalidJob(f"{exc}; pass temp_audiofile= with a file name") from None
            name = self.output.stem + Clip._TEMP_FILES_PREFIX + f"wvf_snd.{extension}"
            path = Path(os.path.join(os.fspath(given["temp_audiofile_path"]), name))
        use_for_moviepy()
        started = time.perf_counter()
        ok = False
        try:
            try:
                self.clip.audio.write_audiofile(
                    str(path),
                    given["audio_fps"],
                    given["audio_nbytes"],
                    given["audio_bufsize"],
                    self.audio_codec,
                    bitrate=given["audio_bitrate"],
                    write_logfile=False,
                    logger=None,
                )
            except OSError as exc:
                raise RenderFailed(f"writing the audio track failed: {exc}") from exc
            self.stages["audio"] = time.perf_counter() - started
            yield path
            ok = True
        finally:
            if given["remove_temp"] or not ok:
                path.unlink(missing_ok=True)

    def mux(self, video: Path, track: Path, output: Path) -> None:
        # A track MoviePy's own call encoded is copied, as MoviePy does; a given file is encoded.
        mux_audio(video, track, output, "copy" if self.make_audio else self.audio_codec)

    def describe(self, encoder: EncoderSpec) -> dict[str, Any]:
        return {
            "codec": encoder.codec,
            "pix_fmt": encoder.pix_fmt,
            "encoder": encoder.label,
            "audio_codec": self.audio_codec if self.has_audio else None,
            "audio_file": self.audio_file,
        }


def _split_params(params: Sequence[str] | None) -> tuple[int | None, str | None, list[str]]:
    """``ffmpeg_params`` as (crf, pix_fmt, the rest): ffmpeg keeps an option's last value."""
    if params is None:
        return None, None, []
    if isinstance(params, str):
        raise InvalidJob(
            f"ffmpeg_params must be a list of strings such as ['-crf', '18'], got the string {params!r}"
        )
    args = [str(p) for p in params]
    crf: int | None = None
    pix_fmt: str | None = None
    rest: list[str] = []
    index = 0
    while index < len(args):
        name = args[index]
        value = args[index + 1] if index + 1 < len(args) else None
        if name == "-crf" and value is not None and value.lstrip("-").isdigit():
            crf = int(value)
            index += 2
        elif name == "-pix_fmt" and value is not None:
            pix_fmt = value
            index += 2
        else:
            rest.append(name)
            index += 1
    return crf, pix_fmt, rest


@functools.cache
def ffmpeg_pix_fmt(codec: str, input_pix_fmt: str, suffix: str) -> str:
    """The pixel format ffmpeg gives ``codec`` when it is fed ``input_pix_fmt`` and none is asked."""
    with tempfile.TemporaryDirectory(prefix="renderbench-pixfmt-") as scratch:
        probe = Path(scratch) / f"probe{suffix or '.mkv'}"
        run(
            ["-loglevel", "error", "-y", "-f", "lavfi",
             "-i", f"color=c=gray:s=64x64:r=1:d=1,format={input_pix_fmt}",
             "-frames:v", "1", "-c:v", codec, str(probe)],
            f"ffmpeg asking which pixel format {codec} gets",
        )  # fmt: skip
        return video_pix_fmt(probe)


def _progress_for(logger: Any) -> bool | Callable[[int], None]:
    if logger is None:
        return False
    if logger == "bar":
        return True
    if isinstance(logger, str):
        raise InvalidJob(f"logger must be 'bar', None or a proglog logger, got {logger!r}")
    return _ProglogProgress(logger)


class _ProglogProgress:
    """Frames done, reported to a proglog logger as MoviePy reports them (``frame_index``)."""

    def __init__(self, logger: Any) -> None:
        self._logger = logger
        self._done = 0

    def set_total(self, total: int) -> None:
        self._logger(frame_index__total=total)

    def __call__(self, frames: int) -> None:
        self._done += frames
        self._logger(frame_index__index=self._done)


def _moviepy_itself(clip: Any, output: Path, given: dict[str, Any]) -> RenderResult:
    """``method="baseline"``: MoviePy's own ``write_videofile``, every argument as given."""
    check_output_path(output)
    binary = use_for_moviepy()
    started = time.perf_counter()
    clip.write_videofile(str(output), **given)
    fps = given["fps"] if given["fps"] is not None else clip.fps
    info = {"method": "baseline", "method_reason": "requested", "ffmpeg": binary}
    result = Timeline.for_clip(clip, fps).result(output, "baseline", started, info=info)
    result.stages["write_videofile"] = result.wall
    return result
