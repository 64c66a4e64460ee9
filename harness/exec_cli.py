"""``renderbench exec [options] script.py [args ...]``: run an unchanged MoviePy script, its
``write_videofile`` calls rendered by renderbench (method auto), one summary line per video.

The script runs as ``python script.py args`` would (:mod:`impls.script`); renderbench's
options go before the script's name. Also ``python -m impls script.py`` (:func:`standalone`).

Exit status: the script's own (``sys.exit``), 1 when it raises (its traceback, as Python
prints it) or a render fails, 2 for a bad request (no such script, a render refused as
invalid, ``write_videofile`` never called), 130 on Ctrl-C, 143 on SIGTERM. Errors from a
render are one line; ``--verbose`` adds the traceback.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from harness.render_cli import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    USAGE_ERRORS,
    add_render_options,
    one_line,
    summary,
)
from impls.errors import RenderbenchError
from impls.model.protocol import RenderResult
from impls.runtime.signals import Terminated, exit_on_sigterm
from impls.script import run_script

PROG = "renderbench exec"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``renderbench exec`` (before the script's name)."""
    parser.add_argument("script", help="the MoviePy script to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")
    add_render_options(
        parser, methods="a name such as chunk, pipe, disk, baseline, for every write_videofile",
        timeout="unit of work (default: none)",
    )  # fmt: skip
    parser.add_argument(
        "--fallback", action="store_true", help="re-render with the baseline after a failure (default: off)"
    )


def _extras(args: argparse.Namespace) -> dict[str, Any]:
    """renderbench's keyword-only options of ``write_videofile``, from parsed arguments."""
    extras: dict[str, Any] = {
        "method": args.method, "workers": args.workers, "executor": args.executor,
        "dask_address": args.dask_address, "timeout": args.timeout, "fallback": args.fallback,
    }  # fmt: skip
    progress: bool | Literal["always"] | None = None  # the script's logger decides
    if args.quiet:
        progress = False
    elif args.progress:
        progress = "always"
    if progress is not None:
        extras["progress"] = progress
    return extras


def _print_script_traceback(exc: BaseException, script: Path) -> None:
    """The traceback as Python prints it for a script: from the script's frame on."""
    tb = exc.__traceback__
    target = str(script.resolve())
    while tb is not None and tb.tb_frame.f_code.co_filename != target:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb if tb is not None else exc.__traceback__)


def execute(args: argparse.Namespace, prog: str = PROG) -> int:
    """Run the script named in ``args``; returns the exit status (see the module docstring)."""
    script = Path(args.script)

    def announce(result: RenderResult, wall: float) -> None:
        if not args.quiet:
            print(summary(result, wall), flush=True)

    try:
        with exit_on_sigterm():
            results = run_script(script, list(args.args), _extras(args), announce)
    except Terminated as exc:  # a SystemExit: first
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_TERMINATED
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return int(code or 0)
        print(code, file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RenderbenchError as exc:
        if args.verbose:
            _print_script_traceback(exc, script)
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, USAGE_ERRORS) else EXIT_FAILED
    except BaseException as exc:  # the script's own error: Python's traceback, status 1
        _print_script_traceback(exc, script)
        return EXIT_FAILED
    if not results:
        print(
            f"{prog}: error: {script} finished without calling write_videofile: nothing was "
            "rendered (write_gif, write_images_sequence and audio files are MoviePy's own)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return EXIT_OK


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``exec`` on a ``parser.add_subparsers()`` object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "exec",
        help="run a MoviePy script unchanged, its write_videofile calls rendered in parallel",
        description=(
            "Run script.py as `python script.py args` would, except that each "
            "VideoClip.write_videofile call renders through renderbench (method auto) and "
            "prints one summary line. renderbench's options go before the script's name."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(func=execute)
    return parser


def standalone(prog: str, argv: Sequence[str] | None = None) -> int:
    """The same command without the ``renderbench`` CLI, as ``prog`` (``python -m impls``)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run an unchanged MoviePy script; its write_videofile calls render in parallel.",
    )
    add_arguments(parser)
    return execute(parser.parse_args(argv), prog)
