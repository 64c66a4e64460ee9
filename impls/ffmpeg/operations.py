"""What the renderers ask of ffmpeg: encode images, join segments, hold a last frame, build
and mux one audio track.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from impls.errors import FFmpegError, InvalidJob
from impls.ffmpeg.command import encoder_args, rate_arg
from impls.ffmpeg.files import writing
from impls.ffmpeg.probe import count_packets, stream_duration
from impls.ffmpeg.process import run
from impls.model.protocol import EncoderSpec


def encode_images(
    pattern: Path, frames: int, rate: Fraction, encoder: EncoderSpec, output: Path
) -> None:
    """Encode the numbered images ``pattern`` (e.g. ``dir/%06d.ppm``, from 0) into ``output``."""
    run(
        ["-loglevel", "error", "-y", "-f", "image2", "-framerate", rate_arg(rate),
         "-start_number", "0", "-i", str(pattern), "-frames:v", str(frames), "-an",
         *encoder_args(encoder), str(output)],
        f"ffmpeg encoding {frames} images into {Path(output).name}",
        tied=True,
    )  # fmt: skip


def concat(
    segments: Sequence[Path],
    output: Path,
    workdir: Path,
    durations: Sequence[Fraction] | None = None,
) -> None:
    """Join segments encoded with identical arguments, without re-encoding (concat demuxer).

    ``durations``: each segment's length (frames / rate) when the caller knows it; otherwise
    each stream's own stated duration is read.
    """
    listing = workdir / f"concat-{uuid.uuid4().hex}.txt"
    # Each segment's exact duration is given: otherwise the demuxer offsets the next segment by
    # the container's duration, rounded to milliseconds, and the joins drift (measured with
    # 30000/1001: r_frame_rate became 359/12 and the stream 1.3 ms too long). A stream's stated
    # duration is not always its frames' either: manim states a scene's run time (0.6 s for 18
    # frames at 30000/1001, which last 0.6006 s), which leaves a gap at the join and turned
    # r_frame_rate into 30.
    if durations is None:
        durations = [stream_duration(s) for s in segments]
    if len(durations) != len(segments):
        raise ValueError(f"{len(segments)} segments but {len(durations)} durations")
    # The list syntax: single quotes, with ' escaped as '\''.
    text = "".join(
        "file '" + str(Path(s).resolve()).replace("'", "'\\''") + "'\n"
        f"duration {float(d):.6f}\n"
        for s, d in zip(segments, durations, strict=True)
    )
    with writing(listing, f"writing the list of {len(segments)} segments to join"):
        listing.write_text(text)
    try:
        run(
            ["-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
             "-map", "0:v", "-c", "copy", str(output)],
            f"ffmpeg concatenating {len(segments)} segments",
        )  # fmt: skip
    finally:
        listing.unlink(missing_ok=True)


def mux_audio(video: Path, audio: Path, output: Path, audio_codec: str = "copy") -> None:
    """Put an audio file beside the video stream: the video copied, the audio copied (an
    already-encoded track, as MoviePy does) or encoded with ``audio_codec``."""
    run(
        ["-loglevel", "error", "-y", "-i", str(video), "-i", str(audio),
         "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", audio_codec, str(output)],
        f"ffmpeg muxing {audio.name} into {output.name}",
        tied=audio_codec != "copy",  # an encode lasts; a copy is quick
    )  # fmt: skip


def still_tail(
    video: Path, last_index: int, count: int, rate: Fraction, encoder: EncoderSpec, output: Path
) -> None:
    """Encode ``count`` copies of the last frame (index ``last_index``) of ``video`` into ``output``.

    Concatenated after ``video`` it holds the last frame (tpad ``stop_mode=clone``) while
    leaving ``video`` itself untouched: only the held frames are encoded, not the whole scene
    again (which would cost a full encode and a generation of quality loss).
    """
    clone = f"tpad=stop={count - 1}:stop_mode=clone,setpts=N/FRAME_RATE/TB"
    out = _held_output(count, rate, encoder, output)
    what = f"ffmpeg holding the last frame of {Path(video).name} for {count} frames"
    # Fast: seek to the last few frames and take the last one decoded (reverse buffers only
    # those), instead of decoding the whole scene.
    run(
        ["-loglevel", "error", "-y", "-sseof", f"-{float(4 / rate):.6f}", "-i", str(video),
         "-map", "0:v:0", "-vf", f"reverse,trim=end_frame=1,{clone}", *out],
        what,
    )  # fmt: skip
    if count_packets(output) == count:
        return
    # A seek that found no frame: decode everything and pick the frame by its index.
    run(
        ["-loglevel", "error", "-y", "-i", str(video), "-map", "0:v:0",
         "-vf", f"select='eq(n\\,{last_index})',{clone}", *out],
        what,
        tied=True,  # decodes the whole scene
    )  # fmt: skip
    if count_packets(output) != count:
        raise FFmpegError(what, 0, f"frame {last_index} not found in {Path(video).name}")


def still_image(image: Path, count: int, rate: Fraction, encoder: EncoderSpec, output: Path) -> None:
    """Encode ``count`` frames of the picture ``image`` into ``output``, as :func:`still_tail`
    encodes held frames (so that the two join a scene's video without re-encoding)."""
    run(
        ["-loglevel", "error", "-y", "-loop", "1", "-framerate", rate_arg(rate), "-i", str(image),
         *_held_output(count, rate, encoder, output)],
        f"ffmpeg holding {Path(image).name} for {count} frames",
        tied=True,
    )  # fmt: skip


def _held_output(count: int, rate: Fraction, encoder: EncoderSpec, output: Path) -> list[str]:
    """ffmpeg's output arguments for ``count`` frames at ``rate``, video only, as ``encoder``."""
    return [
        "-fps_mode", "passthrough", "-r", rate_arg(rate), "-frames:v", str(count), "-an",
        *encoder_args(encoder), str(output),
    ]  # fmt: skip


@dataclass(frozen=True)
class AudioPiece:
    """One stretch of an audio track: a file (padded with silence) or silence, ``samples`` long."""

    path: Path | None
    samples: int


def build_audio_track(
    pieces: Sequence[AudioPiece],
    output: Path,
    *,
    sample_rate: int,
    codec: str,
    bitrate: str | None,
) -> None:
    """Encode the pieces one after another as one stereo track (one encode, one priming delay).

    Each file is resampled, padded with silence and cut to exactly its piece's sample count,
    so every piece starts at the sample where its scene starts.
    """
    inputs: list[str] = []
    chains: list[str] = []
    for index, piece in enumerate(pieces):
        if piece.samples < 1:
            raise InvalidJob(f"audio piece {index} has {piece.samples} samples; it needs >= 1")
        cut = f"apad=whole_len={piece.samples},atrim=end_sample={piece.samples}"
        if piece.path is None:
            chains.append(f"anullsrc=r={sample_rate}:cl=stereo,{cut}[a{index}]")
        else:
            source = len(inputs) // 2
            inputs += ["-i", str(piece.path)]
            chains.append(
                f"[{source}:a:0]aresample={sample_rate},"
                f"aformat=sample_fmts=fltp:channel_layouts=stereo,{cut}[a{index}]"
            )
    labels = "".join(f"[a{index}]" for index in range(len(pieces)))
    graph = ";".join([*chains, f"{labels}concat=n={len(pieces)}:v=0:a=1[out]"])
    rate = ["-b:a", bitrate] if bitrate else []
    run(
        ["-loglevel", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[out]",
         "-c:a", codec, *rate, "-ar", str(sample_rate), str(output)],
        f"ffmpeg building the audio track {Path(output).name} from {len(pieces)} pieces",
        tied=True,
    )  # fmt: skip


def concat_reencoded(segments: Sequence[Path], output: Path, encoder: EncoderSpec) -> None:
    """Join segments whose encodings differ: each decoded by its own decoder (concat filter)."""
    inputs: list[str] = []
    for segment in segments:
        inputs += ["-i", str(segment)]
    labels = "".join(f"[{index}:v:0]" for index in range(len(segments)))
    run(
        ["-loglevel", "error", "-y", *inputs,
         "-filter_complex", f"{labels}concat=n={len(segments)}:v=1:a=0[out]", "-map", "[out]",
         "-fps_mode", "passthrough", "-an", *encoder_args(encoder), str(output)],
        f"ffmpeg re-encoding {len(segments)} segments into {Path(output).name}",
        tied=True,
    )  # fmt: skip
