"""Is an output file the video it should be? Stream facts, then fidelity to a reference.

Structural checks read ffprobe's facts: frame count (packets counted), duration, size, codec,
pixel format, the exact frame rate, and the audio stream (present iff expected, as long as the
video). Fidelity is checked one of three ways, because two lossy encodes of the same frames
with different keyframe positions differ from each other by only ~38-42 dB PSNR, so comparing
one lossy encode with another proves little:

- ``exact``: lossless outputs (libx264 crf 0) of any correct renderer decode to exactly the
  baseline's frames, so their framemd5 lists are equal;
- ``quality``: a lossy output's PSNR against a lossless render of the source frames is within
  ``psnr_tolerance`` dB of the baseline's PSNR against the same source render;
- ``index``: frames of the ``frame_index`` workload carry their own index; every decoded
  frame's index must equal its position.

An invalid video never raises: every problem is a sentence in :attr:`ValidationReport.problems`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from harness.decode import (
    Quality,
    codec_of_encoder,
    compare,
    framemd5,
    iter_rgb_frames,
    probe,
    video_digest,
)
from impls.errors import FFmpegError, ToolNotFound, ValidationFailed
from impls.ffmpeg.probe import count_packets
from impls.model.protocol import RenderJob
from impls.model.timeline import Timeline

MODES = ("auto", "exact", "quality", "index", "none")

#: Default slack on the video stream's duration against ``frames / rate``. A correct file is
#: exact to its time base (measured: 0 for whole encodes and for concatenated segments given
#: their durations); a wrong frame count or rate is at least one frame off (8.3 ms at 120 fps).
DURATION_TOLERANCE = 0.004

#: Samples in one audio frame, per codec: how coarsely an encoder can cut an audio stream.
_AUDIO_FRAME_SAMPLES = {"aac": 1024, "mp3": 1152, "opus": 960, "ac3": 1536, "vorbis": 2048}
_DEFAULT_AUDIO_FRAME_SAMPLES = 2048


@dataclass(frozen=True)
class VideoFacts:
    """What ffprobe says about a file (duration: the video stream's, in seconds)."""

    frames: int
    duration: float
    width: int
    height: int
    codec: str
    pix_fmt: str
    rate: Fraction
    audio_codec: str | None
    audio_duration: float | None
    size_bytes: int
    audio_sample_rate: int | None = None

    @property
    def bitrate(self) -> float | None:
        """Bits per second of the whole file (audio and container included): bytes x 8 / the
        video's duration; None without a duration."""
        return self.size_bytes * 8 / self.duration if self.duration > 0 else None


def _fraction(text: Any) -> Fraction | None:
    try:
        value = Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def _stream_seconds(stream: dict[str, Any], fallback: Any) -> float | None:
    # Some containers (Matroska, WebM) give no per-stream duration: use the container's.
    for value in (stream.get("duration"), stream.get("tags", {}).get("DURATION"), fallback):
        if value is None:
            continue
        text = str(value)
        if ":" in text:  # Matroska tag "00:00:01.500000000"
            hours, minutes, seconds = text.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        try:
            return float(text)
        except ValueError:
            continue
    return None


def probe_video(path: Path) -> VideoFacts:
    """ffprobe facts of ``path``'s first video and audio streams.

    Raises ``FileNotFoundError`` for a missing file, :class:`FFmpegError` when ffprobe cannot
    read it and :class:`ValidationFailed` when it has no video stream.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    data = probe(path)
    streams: list[dict[str, Any]] = data.get("streams", [])
    fmt: dict[str, Any] = data.get("format", {})
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None:
        raise ValidationFailed(str(path), ["it has no video stream"])
    rate = _fraction(video.get("r_frame_rate")) or Fraction(0)
    return VideoFacts(
        frames=count_packets(path),
        duration=_stream_seconds(video, fmt.get("duration")) or 0.0,
        width=int(video.get("width", 0)),
        height=int(video.get("height", 0)),
        codec=str(video.get("codec_name", "")),
        pix_fmt=str(video.get("pix_fmt", "")),
        rate=rate,
        audio_codec=None if audio is None else str(audio.get("codec_name", "")),
        audio_duration=None if audio is None else _stream_seconds(audio, fmt.get("duration")),
        size_bytes=path.stat().st_size,
        audio_sample_rate=(
            None if audio is None or audio.get("sample_rate") is None else int(audio["sample_rate"])
        ),
    )


def moviepy_rate(fps: float | Fraction) -> Fraction:
    """The rate MoviePy's ``write_videofile`` writes: ``-r`` with two decimals (29.97 for
    30000/1001, i.e. 2997/100)."""
    return Fraction("%.02f" % float(fps))


@dataclass(frozen=True)
class Expectation:
    """What a correct output of a job looks like.

    ``codec`` is an encoder name (libx264) or a codec name (h264). ``audio_tolerance`` is
    how far the audio may end after the video; ``None``: one video frame plus one audio frame
    (see :meth:`audio_slack`).
    """

    frames: int
    rate: Fraction
    width: int
    height: int
    codec: str | None = None
    pix_fmt: str | None = None
    audio: bool = False
    duration_tolerance: float = DURATION_TOLERANCE
    lossless: bool = False
    audio_tolerance: float | None = None

    @classmethod
    def for_job(
        cls,
        job: RenderJob,
        timeline: Timeline,
        size: tuple[int, int],
        audio: bool,
        *,
        renderer: str | None = None,
    ) -> Expectation:
        """The expectation for ``job``'s output; ``audio``: whether the output has a track.

        ``renderer="baseline"`` expects MoviePy's own rate, rounded to two decimals
        (:func:`moviepy_rate`); every other renderer must write the exact rate.
        """
        rate = moviepy_rate(timeline.clock_fps) if renderer == "baseline" else timeline.rate
        encoder = job.encoder
        return cls(
            frames=timeline.frames, rate=rate, width=int(size[0]), height=int(size[1]),
            codec=encoder.codec, pix_fmt=encoder.pix_fmt, audio=audio, lossless=encoder.is_lossless,
        )  # fmt: skip

    @property
    def duration(self) -> float:
        return float(Fraction(self.frames) / self.rate)

    def audio_slack(self, facts: VideoFacts) -> tuple[float, float]:
        """Allowed (shortfall, excess) of the audio duration against the video's, in seconds.

        MoviePy's audio lasts the clip's duration while the video lasts ``int(duration * fps)``
        frames, so the audio ends up to one video frame after the video (measured on the
        baseline: 0 to 0.041 s at 24 fps). An encoder cuts audio only at frame boundaries
        (1024 samples = 23 ms for AAC at 44.1 kHz), so one audio frame either way is allowed.
        """
        codec = facts.audio_codec or ""
        samples = _AUDIO_FRAME_SAMPLES.get(codec, _DEFAULT_AUDIO_FRAME_SAMPLES)
        audio_frame = samples / (facts.audio_sample_rate or 44100)
        if self.audio_tolerance is not None:
            return self.audio_tolerance, self.audio_tolerance
        return audio_frame, float(1 / self.rate) + audio_frame


@dataclass
class ValidationReport:
    """Everything found wrong with one output; empty ``problems`` means valid."""

    path: Path
    facts: VideoFacts | None
    problems: list[str] = field(default_factory=list)
    fidelity: str = "none"  # "exact" | "quality" | "index" | "none"
    psnr: float | None = None
    reference_psnr: float | None = None
    ssim: float | None = None  # measured with psnr, against the same frames

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        if self.problems:
            raise ValidationFailed(str(self.path), self.problems)


# ---------------------------------------------------------------------------------------------
# Reading frames back


def psnr(path: Path, reference: Path) -> float:
    """Average PSNR (dB) of ``path`` against ``reference`` (ffmpeg's psnr filter; inf if equal)."""
    return quality(path, reference).psnr


#: Scores already measured, by (video packets' digest, reference file). Renderers that feed
#: the same frames to the same encoder settings write the same packets (baseline, disk and
#: pipe do; so do the Manim renderers), and scoring a full-HD minute decodes two videos and
#: runs SSIM on every frame: a matrix would otherwise re-score identical streams for minutes.
_scores: dict[tuple[str, tuple[str, int, int]], Quality] = {}


def quality(path: Path, reference: Path) -> Quality:
    """PSNR and SSIM of ``path`` against ``reference`` in one ffmpeg pass.

    An output whose video packets equal an already-scored one's (against the same, unchanged
    reference file) gets that score without decoding again.
    """
    path, reference = Path(path), Path(reference)
    stat = reference.stat()
    key = (video_digest(path), (str(reference.resolve()), stat.st_size, stat.st_mtime_ns))
    if key not in _scores:
        _scores[key] = compare(path, reference)
    return _scores[key]


def decode_indices(path: Path) -> list[int]:
    """The index carried by every decoded frame of a ``frame_index`` workload video."""
    from harness.workloads import frame_index

    facts = probe(Path(path))
    video = next(s for s in facts["streams"] if s.get("codec_type") == "video")
    width, height = int(video["width"]), int(video["height"])
    return [
        frame_index.decode(np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3))
        for raw in iter_rgb_frames(Path(path), width, height)
    ]


# ---------------------------------------------------------------------------------------------
# Checks


def _structure_problems(facts: VideoFacts, expect: Expectation) -> list[str]:
    problems: list[str] = []
    if facts.frames != expect.frames:
        problems.append(f"has {facts.frames} frames, expected {expect.frames}")
    if facts.rate != expect.rate:
        problems.append(
            f"frame rate is {_show_rate(facts.rate)}, expected exactly {_show_rate(expect.rate)}"
        )
    if abs(facts.duration - expect.duration) > expect.duration_tolerance:
        problems.append(
            f"video lasts {facts.duration:.6f} s, expected {expect.duration:.6f} s "
            f"({expect.frames} frames at {_show_rate(expect.rate)} fps, "
            f"tolerance {expect.duration_tolerance} s)"
        )
    if (facts.width, facts.height) != (expect.width, expect.height):
        problems.append(
            f"frame size is {facts.width}x{facts.height}, expected {expect.width}x{expect.height}"
        )
    if expect.codec is not None:
        wanted = {expect.codec, codec_of_encoder(expect.codec) or expect.codec}
        if facts.codec not in wanted:
            problems.append(f"video codec is {facts.codec}, expected {expect.codec}")
    if expect.pix_fmt is not None and facts.pix_fmt != expect.pix_fmt:
        if facts.pix_fmt == "yuvj420p" and expect.pix_fmt == "yuv420p":
            problems.append(
                "pixel format is yuvj420p (full-range JPEG levels, typically from a JPEG frame "
                "transport), expected yuv420p: players show it with different contrast"
            )
        else:
            problems.append(f"pixel format is {facts.pix_fmt}, expected {expect.pix_fmt}")
    problems += _audio_problems(facts, expect)
    return problems


def _audio_problems(facts: VideoFacts, expect: Expectation) -> list[str]:
    if not expect.audio:
        if facts.audio_codec is not None:
            return [f"has a {facts.audio_codec} audio stream, expected none"]
        return []
    if facts.audio_codec is None:
        return ["has no audio stream, expected one"]
    if facts.audio_duration is None:
        return [f"its {facts.audio_codec} audio stream has no duration"]
    shortfall, excess = expect.audio_slack(facts)
    gap = facts.audio_duration - facts.duration
    if gap < -shortfall:
        return [
            f"audio lasts {facts.audio_duration:.6f} s, {-gap:.6f} s shorter than the video "
            f"({facts.duration:.6f} s; allowed {shortfall:.6f} s)"
        ]
    if gap > excess:
        return [
            f"audio lasts {facts.audio_duration:.6f} s, {gap:.6f} s longer than the video "
            f"({facts.duration:.6f} s; allowed {excess:.6f} s)"
        ]
    return []


def _show_rate(rate: Fraction) -> str:
    if rate.denominator == 1:
        return str(rate.numerator)
    return f"{rate.numerator}/{rate.denominator} ({float(rate):.8g})"


def _first_difference(a: list[Any], b: list[Any]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def _exact_problems(path: Path, reference: Path) -> list[str]:
    ours, theirs = framemd5(path), framemd5(reference)
    first = _first_difference(ours, theirs)
    if first is None:
        return []
    differing = sum(1 for x, y in zip(ours, theirs) if x != y)
    detail = f"{differing} of {min(len(ours), len(theirs))} compared frames differ"
    if len(ours) != len(theirs):
        detail += f"; it decodes to {len(ours)} frames, the reference to {len(theirs)}"
    return [f"decoded frames differ from the reference {reference.name}: first at frame {first}, {detail}"]


def _index_problems(path: Path, frames: int) -> list[str]:
    found = decode_indices(path)
    expected = list(range(frames))
    first = _first_difference(found, expected)
    if first is None:
        return []
    wrong = sum(1 for i, x in enumerate(found) if x != i)
    if first < len(found) and first < frames:
        detail = f"frame {first} shows index {found[first]}"
    else:
        detail = f"it decodes to {len(found)} frames, expected {frames}"
    return [
        f"frame order is wrong: {detail} ({wrong} of {len(found)} decoded frames are not at "
        f"their own index)"
    ]


def _resolve_mode(
    mode: str,
    expect: Expectation,
    reference: Path | None,
    source_reference: Path | None,
    reference_psnr: float | None,
) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown validation mode {mode!r}; use one of {', '.join(MODES)}")
    if mode == "auto":
        if reference is not None and expect.lossless:
            mode = "exact"
        elif source_reference is not None and (reference is not None or reference_psnr is not None):
            mode = "quality"
        elif reference is not None:
            raise ValueError(
                "a lossy output cannot be compared with a lossy reference (two encodes of the "
                "same frames differ by ~40 dB PSNR): give source_reference (a lossless render "
                "of the source frames) for quality mode, or render both losslessly"
            )
        else:
            mode = "none"
    if mode == "exact" and reference is None:
        raise ValueError("exact validation needs a reference (the baseline's lossless output)")
    if mode == "quality" and (
        source_reference is None or (reference is None and reference_psnr is None)
    ):
        raise ValueError(
            "quality validation needs source_reference and either reference or reference_psnr"
        )
    return mode


def validate(
    path: Path,
    expect: Expectation,
    *,
    reference: Path | None = None,
    mode: str = "auto",
    source_reference: Path | None = None,
    reference_psnr: float | None = None,
    psnr_tolerance: float = 0.5,
) -> ValidationReport:
    """Check ``path`` against ``expect`` and, per ``mode``, against a reference.

    ``mode="auto"``: exact when the output is expected lossless and a reference is given
    (the reference must be a lossless render of the same job, e.g. the baseline's); quality
    when ``source_reference`` is given; structural checks only without a reference.
    ``reference_psnr`` (the baseline's PSNR against ``source_reference``) is computed from
    ``reference`` when not given. Raises ``ValueError`` only for a mode its arguments cannot
    serve, :class:`ToolNotFound` when ffmpeg/ffprobe is missing.
    """
    path = Path(path)
    reference = None if reference is None else Path(reference)
    source_reference = None if source_reference is None else Path(source_reference)
    mode = _resolve_mode(mode, expect, reference, source_reference, reference_psnr)
    report = ValidationReport(path=path, facts=None, fidelity=mode)
    try:
        report.facts = probe_video(path)
    except ToolNotFound:
        raise
    except (OSError, FFmpegError, ValidationFailed, ValueError) as exc:
        report.problems.append(f"cannot be read: {_reason(exc)}")
        return report
    facts = report.facts
    report.problems += _structure_problems(facts, expect)
    try:
        if mode == "exact":
            assert reference is not None
            if _same_size(facts, reference, report, "reference"):
                report.problems += _exact_problems(path, reference)
        elif mode == "quality":
            assert source_reference is not None
            if _same_size(facts, source_reference, report, "source reference"):
                measured = quality(path, source_reference)
                report.psnr, report.ssim = measured.psnr, measured.ssim
                if reference_psnr is None:
                    assert reference is not None
                    same = reference.resolve() == path.resolve()  # the reference checking itself
                    reference_psnr = report.psnr if same else psnr(reference, source_reference)
                report.reference_psnr = reference_psnr
                report.problems += _psnr_problems(report.psnr, reference_psnr, psnr_tolerance)
        elif mode == "index":
            report.problems += _index_problems(path, expect.frames)
    except ToolNotFound:
        raise
    except (OSError, FFmpegError, ValidationFailed, ValueError) as exc:
        report.problems.append(f"{mode} comparison failed: {_reason(exc)}")
    return report


def _same_size(facts: VideoFacts, other: Path, report: ValidationReport, what: str) -> bool:
    theirs = probe_video(other)
    if (theirs.width, theirs.height) != (facts.width, facts.height):
        report.problems.append(
            f"cannot compare frames with the {what} {other.name}: it is "
            f"{theirs.width}x{theirs.height}, the output {facts.width}x{facts.height}"
        )
        return False
    return True


def _psnr_problems(value: float, reference: float, tolerance: float) -> list[str]:
    if math.isinf(value) and math.isinf(reference):
        return []
    if value < reference - tolerance:
        return [
            f"quality is lower than the baseline's: PSNR {value:.2f} dB against the source "
            f"frames, baseline {reference:.2f} dB (tolerance {tolerance} dB)"
        ]
    if value > reference + tolerance:
        return [
            f"quality is higher than the baseline's: PSNR {value:.2f} dB against the source "
            f"frames, baseline {reference:.2f} dB (tolerance {tolerance} dB): the encoder "
            "settings differ, so the timings are not comparable"
        ]
    return []


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ValidationFailed):
        return "; ".join(exc.problems)
    return str(exc).strip().replace("\n", " | ")
