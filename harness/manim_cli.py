"""``renderbench manim``: Manim scenes rendered as manim users call manim, in parallel, into one video.

    renderbench manim [-ql|-qm|-qh|-qp|-qk] [--fps N] [--format mp4|webm|mov] file.py [SCENE ...]
                      [-a] [-o OUT] [--audio SCENE=FILE ...] [--still-duration S] [--padding S]
                      [--method M] [--workers N] [--executor local|dask] ...

The scenes named (or, with ``-a``, every scene of the file in the order it defines them; with
neither, the file's only scene) render in parallel (method ``auto``: ``manim-scenes`` unless
this machine measured better) and are joined into one video, ``-o`` (default
``<file>.<format>`` in the current directory), with each scene's narration (``--audio``) at the
scene's start. A scene without animations, which manim saves as a PNG, is shown for its
narration's length, or ``--still-duration`` seconds. Quality defaults to manim's own (``-qh``).
Exit status as ``renderbench render``: 0 written, 1 the render failed, 2 bad arguments or input
(no scene in the file, an unknown scene...), 130 interrupted, 143 terminated.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.render_cli import (
    Request,
    UsageError,
    add_render_options,
    one_line_errors,
    render_command,
)
from impls.manim.discover import scene_names
from impls.model.protocol import EncoderSpec, ManimSource, exact_fps

PROG = "renderbench manim"

#: The output's encoder per ``--format``: manim's own choices (H.264 in MP4 and MOV, VP9 in
#: WebM), so that what renderbench adds (held frames, still scenes) matches manim's segments.
FORMATS: dict[str, EncoderSpec] = {
    "mp4": EncoderSpec(),
    "mov": EncoderSpec(),
    "webm": EncoderSpec(
        codec="libvpx-vp9", preset=None, crf=32, bitrate="0", audio_codec="libopus"
    ),
}


def _seconds(text: str, *, positive: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if positive and not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text}")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds, got {text}")
    return value


def _positive_seconds(text: str) -> float:
    return _seconds(text, positive=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("script", metavar="file.py", help="the Manim script")
    parser.add_argument("scenes", nargs="*", metavar="SCENE", help="scenes to render, in this order")
    manim = parser.add_argument_group("manim's options")
    manim.add_argument(
        "-q", "--quality", choices=("l", "m", "h", "p", "k"), default="h",
        help="-ql 480p15, -qm 720p30, -qh 1080p60, -qp 1440p60, -qk 2160p60 (default: h, as manim)",
    )  # fmt: skip
    manim.add_argument("--fps", "--frame_rate", dest="fps", help="frame rate (default: the quality's)")
    manim.add_argument(
        "--format", choices=tuple(FORMATS), default=None,
        help="container of the combined video (default: the -o suffix, else mp4)",
    )  # fmt: skip
    manim.add_argument(
        "-a", "--write_all", "--write-all", dest="all", action="store_true",
        help="render every scene of the file, in definition order (default: the scenes named)",
    )  # fmt: skip
    manim.add_argument(
        "-o", "--output_file", "--output", dest="output",
        help="the combined video (default: <file>.<format> in the current directory)",
    )  # fmt: skip
    ours = parser.add_argument_group("renderbench's options")
    ours.add_argument(
        "--audio", action="append", default=[], metavar="SCENE=FILE",
        help="narration for a scene, repeatable (default: none)",
    )  # fmt: skip
    ours.add_argument(
        "--still-duration", type=_positive_seconds, default=1.0, metavar="S",
        help="seconds a scene without animations is shown when it has no narration (default: 1)",
    )  # fmt: skip
    ours.add_argument(
        "--padding", type=_seconds, default=0.0, metavar="S",
        help="seconds of held last frame and silence after every scene (default: 0)",
    )  # fmt: skip
    add_render_options(
        ours, methods="a manim-* renderer", timeout="scene (default: 600)",
        quiet=("--quiet",),  # -q is manim's quality
    )  # fmt: skip


def _scenes(args: argparse.Namespace, script: Path) -> tuple[str, ...]:
    defined = scene_names(script)
    if not defined:
        raise UsageError(f"{script} defines no scene (no class deriving from a manim Scene)")
    if args.all:
        if args.scenes:
            raise UsageError("give scene names or -a (every scene), not both")
        return tuple(defined)
    if args.scenes:
        return tuple(args.scenes)
    if len(defined) == 1:
        return (defined[0],)
    raise UsageError(
        f"{script} defines {len(defined)} scenes ({', '.join(defined)}): name the ones to render, "
        "or give -a for all of them"
    )


def _output(args: argparse.Namespace, script: Path) -> tuple[Path, str]:
    """The output path and its format (``--format``, else the ``-o`` suffix, else mp4)."""
    if args.output is None:
        fmt = args.format or "mp4"
        return Path(f"{script.stem}.{fmt}"), fmt
    output = Path(args.output)
    suffix = output.suffix.lstrip(".").lower()
    if not suffix:
        fmt = args.format or "mp4"
        return output.with_name(f"{output.name}.{fmt}"), fmt
    if suffix not in FORMATS:
        raise UsageError(f"-o {output}: renderbench manim writes {', '.join(FORMATS)} files")
    if args.format is not None and args.format != suffix:
        raise UsageError(f"-o {output} is not a .{args.format} file (--format {args.format})")
    return output, suffix


def _pairs(items: Sequence[str]) -> dict[str, Path]:
    pairs: dict[str, Path] = {}
    for item in items:
        scene, sep, file = item.partition("=")
        if not sep or not scene or not file:
            raise UsageError(f"--audio expects SCENE=FILE, got {item!r}")
        pairs[scene] = Path(file)
    return pairs


def main(args: argparse.Namespace) -> int:
    """Run ``renderbench manim`` with parsed arguments; returns the exit status."""

    def request() -> Request:
        script = Path(args.script)
        if not script.is_file():
            raise UsageError(f"Manim script {script} does not exist")
        output, fmt = _output(args, script)
        source = ManimSource(
            script=script, scenes=_scenes(args, script), audio=_pairs(args.audio),
            quality=args.quality, fps=None if args.fps is None else exact_fps(args.fps),
            padding=args.padding, still_duration=args.still_duration,
        )  # fmt: skip
        return source, output, {
            "method": args.method, "workers": args.workers, "encoder": FORMATS[fmt],
            "executor": args.executor, "dask_address": args.dask_address, "timeout": args.timeout,
        }  # fmt: skip

    return render_command(PROG, args, request)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``manim`` on a ``parser.add_subparsers()`` object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "manim",
        help="render Manim scenes in parallel into one video, with manim's own flags",
        description=(__doc__ or "").split("\n\n")[0],
    )
    add_arguments(parser)
    one_line_errors(parser)
    parser.set_defaults(func=main)
    return parser
