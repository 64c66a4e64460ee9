"""``renderbench render``: render a clip factory or Manim scenes with the winning renderer.

    renderbench render pkg.module:factory out.mp4 [--method M] [--workers N] [--kwargs JSON] ...
    renderbench render scenes.py Scene1 Scene2 ... out.mp4 [--audio Scene1=a.wav ...]

The first form is chosen unless the first argument names an existing ``.py`` file. Exit
status: 0 rendered, 1 the render failed, 2 bad arguments or input (unknown method, factory
not importable, odd frame size, missing output directory...), 130 interrupted (Ctrl-C), 143
terminated (SIGTERM: the render cleans up first, see :mod:`impls.runtime.signals`). Every error is
one line on stderr; ``--verbose`` adds the traceback and the reason the method was chosen.
Also runs on its own: ``python -m harness.render_cli ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, NoReturn

from impls.api import AUTO, render
from impls.errors import (
    EncoderUnavailable,
    InvalidJob,
    InvalidSource,
    RenderbenchError,
    ToolNotFound,
)
from impls.model.protocol import ClipSource, EncoderSpec, ManimSource, RenderResult, Source, exact_fps
from impls.registry import RENDERERS
from impls.runtime.executor import DEFAULT_EXECUTOR, executor_names
from impls.runtime.progress import PROGRESS_ENV
from impls.runtime.signals import Terminated, exit_on_sigterm

PROG = "renderbench render"
DESCRIPTION = (
    "Render a MoviePy clip factory or Manim scenes with the fastest valid renderer measured "
    "on this machine (or the one named by --method)."
)
USAGE = (
    "%(prog)s pkg.module:factory OUTPUT [options]\n"
    "       %(prog)s script.py SCENE [SCENE ...] OUTPUT [options]"
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143

#: Errors that mean "the request is wrong", as opposed to "the render broke".
USAGE_ERRORS = (InvalidJob, InvalidSource, EncoderUnavailable, ToolNotFound)

#: What a command asks :func:`impls.api.render` for: the source, the output, other arguments.
Request = tuple[Source, Path, dict[str, Any]]

_DEFAULT_ENCODER = EncoderSpec()


class UsageError(RenderbenchError):
    """Arguments that parse but do not make a render request."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _optional_int(text: str) -> int | None:
    if text.lower() in {"none", "-"}:
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer (or 'none')") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``renderbench render`` (shared by the subcommand and ``-m``)."""
    parser.usage = USAGE
    parser.add_argument(
        "targets",
        nargs="+",
        metavar="ARG",
        help="'pkg.module:factory OUTPUT', or 'script.py SCENE [SCENE ...] OUTPUT' for Manim",
    )
    parser.add_argument(
        "--method",
        default=AUTO,
        help="renderer: auto (fastest valid one measured on this machine) or one of "
        f"{', '.join(RENDERERS)} (default: auto)",
    )
    parser.add_argument(
        "--workers", type=_positive_int, help="worker processes (default: measured best, else all cores)"
    )
    enc = parser.add_argument_group("encoder")
    enc.add_argument("--codec", default=_DEFAULT_ENCODER.codec, help="ffmpeg video encoder (default: %(default)s)")
    enc.add_argument("--preset", help=f"encoder preset, 'none' for no -preset (default: {_DEFAULT_ENCODER.preset})")
    enc.add_argument(
        "--crf", type=_optional_int, default=argparse.SUPPRESS,
        help=f"constant rate factor, 'none' to leave unset (default: {_DEFAULT_ENCODER.crf})",
    )  # fmt: skip
    enc.add_argument("--pix-fmt", default=_DEFAULT_ENCODER.pix_fmt, help="pixel format (default: %(default)s)")
    enc.add_argument(
        "--audio-codec", default=_DEFAULT_ENCODER.audio_codec,
        help="ffmpeg audio encoder, e.g. libopus for .webm (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--fps", help="frame rate override, e.g. 30 or 30000/1001 (default: the source's)")
    parser.add_argument("--no-audio", action="store_true", help="write no audio track (default: keep audio)")
    parser.add_argument(
        "--executor", choices=executor_names(), default=DEFAULT_EXECUTOR,
        help="where workers run: a local process pool or a Dask cluster (default: local)",
    )  # fmt: skip
    parser.add_argument(
        "--dask-address", help="scheduler address, e.g. tcp://host:8786 (default: start a local cluster)"
    )
    parser.add_argument(
        "--timeout", type=_positive_float, help="seconds allowed per unit of work (default: none)"
    )
    parser.add_argument(
        "--fallback", action="store_true",
        help="re-render with the baseline if the chosen renderer fails (default: off)",
    )  # fmt: skip
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE",
        help="renderer-specific option, VALUE parsed as JSON when it can be (default: none)",
    )  # fmt: skip
    clip = parser.add_argument_group("MoviePy factory")
    clip.add_argument(
        "--kwargs", metavar="JSON", help="keyword arguments for the factory, a JSON object (default: {})"
    )
    manim = parser.add_argument_group("Manim scenes")
    manim.add_argument(
        "--audio", action="extend", nargs="+", default=[], metavar="SCENE=FILE",
        help="narration audio for a scene (default: none)",
    )  # fmt: skip
    manim.add_argument(
        "--quality", choices=("l", "m", "h", "p", "k"), default="l",
        help="manim quality letter (default: l)",
    )  # fmt: skip
    _add_output_options(parser.add_argument_group("output"))


def _add_output_options(
    parser: argparse._ActionsContainer, quiet: Sequence[str] = ("--quiet", "-q")
) -> None:
    """``--quiet`` (its flags: ``quiet``), ``--progress``, ``--verbose``."""
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument(*quiet, dest="quiet", action="store_true", help="no progress bar and no summary line")
    shown.add_argument(
        "--progress", action="store_true",
        help=f"draw the progress bar even when stderr is not a terminal (or set {PROGRESS_ENV}=1)",
    )  # fmt: skip
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="tracebacks on errors and why the method was chosen"
    )


def add_render_options(
    parser: argparse._ActionsContainer, *, methods: str, timeout: str,
    quiet: Sequence[str] = ("--quiet", "-q"),
) -> None:  # fmt: skip
    """The options of a command that renders with the winning renderer (``exec``, ``manim``):
    ``methods`` names the renderers to choose from, ``timeout`` what ``--timeout`` limits and
    its default; ``quiet`` the flags of ``--quiet``."""
    parser.add_argument(
        "--method", default=AUTO,
        help=f"renderer: auto (the fastest valid one measured on this machine) or {methods} "
        "(default: auto)",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=_positive_int, help="worker processes (default: measured best, else all cores)"
    )
    parser.add_argument(
        "--executor", choices=executor_names(), default=DEFAULT_EXECUTOR,
        help=f"where the workers run (default: {DEFAULT_EXECUTOR})",
    )  # fmt: skip
    parser.add_argument("--dask-address", help="Dask scheduler address (default: a private cluster)")
    parser.add_argument("--timeout", type=_positive_float, help=f"seconds allowed per {timeout}")
    _add_output_options(parser, quiet)


def one_line_errors(parser: argparse.ArgumentParser) -> None:
    # argparse prints the usage block and then the error; one line (exit 2) is easier to read
    # in a log, and --help still shows the usage.
    def error(message: str) -> NoReturn:
        parser.exit(EXIT_USAGE, f"{parser.prog}: error: {message} (see --help)\n")

    # As a subcommand, unknown options would be reported by the parent parser (usage block
    # included), so they are refused here.
    parse_known_args = parser.parse_known_args

    def parse_known_args_strictly(
        args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = parse_known_args(args, namespace)
        if extras:
            error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras

    setattr(parser, "error", error)
    setattr(parser, "parse_known_args", parse_known_args_strictly)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``render`` on a ``parser.add_subparsers()`` object; ``main`` runs it."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "render",
        help="render a clip factory or Manim scenes with the fastest valid renderer",
        description=DESCRIPTION,
    )
    add_arguments(parser)
    one_line_errors(parser)
    parser.set_defaults(func=main)
    return parser


def _parse_kwargs(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--kwargs is not valid JSON ({exc.args[0] if exc.args else exc})") from None
    except RecursionError:
        raise UsageError("--kwargs is nested too deeply to read") from None
    if not isinstance(value, dict):
        raise UsageError("--kwargs must be a JSON object, e.g. '{\"width\": 640}'")
    return value


def _parse_pairs(items: Sequence[str], flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"{flag} expects KEY=VALUE, got {item!r}")
        pairs[key] = value
    return pairs


def _options(items: Sequence[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key, raw in _parse_pairs(items, "--option").items():
        try:
            options[key] = json.loads(raw)
        except (ValueError, RecursionError):
            options[key] = raw
    return options


def _source_and_output(args: argparse.Namespace) -> tuple[Source, Path]:
    targets: list[str] = list(args.targets)
    first = targets[0]
    if first.endswith(".py"):
        script = Path(first)
        if not script.is_file():
            raise UsageError(f"Manim script {first} does not exist")
        if len(targets) < 3:
            raise UsageError("give the scenes to render and the output: script.py SCENE [SCENE ...] OUTPUT")
        if args.kwargs is not None:
            raise UsageError("--kwargs applies to a factory, not to Manim scenes")
        audio = _parse_pairs(args.audio, "--audio")
        for scene, file in audio.items():
            if not Path(file).is_file():
                raise UsageError(f"audio file {file} for scene {scene} does not exist")
        scenes = tuple(targets[1:-1])
        narration = {scene: Path(file) for scene, file in audio.items()}
        source: Source = ManimSource(script, scenes, narration, quality=args.quality)
        return source, Path(targets[-1])
    if len(targets) != 2:
        raise UsageError(
            f"expected 'pkg.module:factory OUTPUT', got {len(targets)} arguments "
            "(for Manim, the first argument must be an existing .py script)"
        )
    if args.audio:
        raise UsageError("--audio applies to Manim scenes; a clip's factory sets its own audio")
    return ClipSource(first, _parse_kwargs(args.kwargs)), Path(targets[1])


def _encoder(args: argparse.Namespace) -> EncoderSpec:
    preset: str | None = _DEFAULT_ENCODER.preset
    if args.preset is not None:
        preset = None if args.preset.lower() in {"none", "-"} else args.preset
    crf: int | None = getattr(args, "crf", _DEFAULT_ENCODER.crf)
    return EncoderSpec(
        codec=args.codec, preset=preset, crf=crf, pix_fmt=args.pix_fmt, audio_codec=args.audio_codec
    )


def one_line(exc: BaseException) -> str:
    """An error as one line: its message's lines joined; the type named for foreign errors."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    if not isinstance(exc, RenderbenchError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= 1000 else text[:997] + "..."


def summary(result: RenderResult, wall: float) -> str:
    """The final line: output, frames, video duration, wall time, frames per second."""
    fps = result.frames / wall if wall > 0 else float("inf")
    method = str(result.info.get("method", result.renderer))
    used = result.renderer if result.renderer == method else f"{method} -> {result.renderer}"
    fallback = " after a fallback to the baseline" if result.fallback_used else ""
    return (
        f"{result.output}: {result.frames} frames, {result.duration:.2f} s of video, "
        f"rendered in {wall:.2f} s ({fps:.1f} fps) by {used}{fallback}"
    )


def main(args: argparse.Namespace) -> int:
    """Run ``renderbench render`` with parsed arguments; returns the exit status."""
    # A factory next to the user (``myvideo:make``) must import as it would with ``python -m``;
    # the pool's workers inherit sys.path.
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)

    def request() -> Request:
        source, output = _source_and_output(args)
        fps: str | None = args.fps
        if isinstance(source, ManimSource) and fps is not None:
            source = ManimSource(
                script=source.script, scenes=source.scenes, audio=source.audio,
                quality=source.quality, fps=exact_fps(fps),
            )  # fmt: skip
            fps = None
        return source, output, {
            "method": args.method, "workers": args.workers, "encoder": _encoder(args),
            "audio": not args.no_audio, "fallback": args.fallback, "fps": fps,
            "executor": args.executor, "dask_address": args.dask_address,
            "timeout": args.timeout, "options": _options(args.option),
        }  # fmt: skip

    return render_command(PROG, args, request)


def render_command(prog: str, args: argparse.Namespace, request: Callable[[], Request]) -> int:
    """Render what ``request()`` asks for (it raises :class:`UsageError` for arguments that
    make no request) with ``args``' ``--quiet``, ``--progress`` and ``--verbose``: the exit
    status, one line per error, the summary line."""
    progress: bool | Literal["always"] = False if args.quiet else ("always" if args.progress else True)
    try:
        source, output, more = request()
        started = time.perf_counter()
        with exit_on_sigterm():
            result = render(source, output, progress=progress, **more)
        wall = time.perf_counter() - started
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_TERMINATED
    except Exception as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, (UsageError, *USAGE_ERRORS)) else EXIT_FAILED
    if args.verbose:
        print(f"{prog}: method {result.info.get('method')}: {result.info.get('method_reason')}", file=sys.stderr)
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in result.stages.items())
        if stages:
            print(f"{prog}: stages: {stages}", file=sys.stderr)
    if not args.quiet:
        print(summary(result, wall), flush=True)
    return EXIT_OK


def standalone(argv: Sequence[str] | None = None) -> int:
    """``python -m harness.render_cli ...``: the same command without the ``renderbench`` CLI."""
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION)
    add_arguments(parser)
    one_line_errors(parser)
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(standalone())
