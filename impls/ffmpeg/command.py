"""ffmpeg arguments: an encoder's output options and the formats frames are written in."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from impls.model.protocol import EncoderSpec


def encoder_args(spec: EncoderSpec) -> list[str]:
    """Output arguments for ``spec`` (identical for a whole file and for every chunk)."""
    args = ["-c:v", spec.codec]
    if spec.preset is not None:
        args += ["-preset", spec.preset]
    if spec.crf is not None:
        args += ["-crf", str(spec.crf)]
    if spec.bitrate is not None:
        args += ["-b:v", spec.bitrate]
    args += ["-pix_fmt", spec.pix_fmt]
    if spec.threads is not None:
        args += ["-threads", str(spec.threads)]
    args += list(spec.extra)
    return args


def rate_arg(rate: Fraction) -> str:
    """An exact ``-r`` value: 30000/1001 stays 30000/1001 (MoviePy writes 29.97)."""
    return f"{rate.numerator}/{rate.denominator}"


@dataclass(frozen=True)
class RawFormat:
    """What is written on stdin: frame size, pixel layout and exact rate."""

    width: int
    height: int
    rate: Fraction
    pix_fmt: str = "rgb24"  # rgb24, or rgba when the encoder keeps alpha

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * (4 if self.pix_fmt == "rgba" else 3)

    def input_args(self) -> list[str]:
        return [
            "-f", "rawvideo", "-pix_fmt", self.pix_fmt,
            "-s", f"{self.width}x{self.height}", "-r", rate_arg(self.rate), "-i", "-",
        ]  # fmt: skip


@dataclass(frozen=True)
class PipedImages:
    """Encoded images (e.g. JPEG) written one after another on stdin, at an exact rate."""

    rate: Fraction
    codec: str = "mjpeg"  # the decoder ffmpeg reads them with

    def input_args(self) -> list[str]:
        return [
            "-f", "image2pipe", "-c:v", self.codec, "-framerate", rate_arg(self.rate), "-i", "-",
        ]  # fmt: skip
