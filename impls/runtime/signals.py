"""SIGTERM as an exception, so that a terminated render cleans up like an interrupted one.

Python turns Ctrl-C (SIGINT) into :class:`KeyboardInterrupt`, which unwinds the render: the
pool is killed, ffmpeg and manim processes are killed, the scratch directory and the partial
output are removed. SIGTERM has no such default: the process just ends, nothing is cleaned up
and the render's temporary files stay behind (its children still end: workers notice their
parent is gone, ffmpeg sees EOF, tied processes are killed, see :mod:`impls.runtime.lifeline`).

A library must not take over the process's signals behind its caller's back, so renderbench
installs no handler by itself. A program that wants the clean-up opts in::

    from impls import exit_on_sigterm, render

    with exit_on_sigterm():
        render("myproject.video:make_clip", "out.mp4")

Inside the block, SIGTERM raises :class:`Terminated` (a :class:`SystemExit` with status 143,
the shell's 128 + 15) in the main thread; once the render has cleaned up it ends the program
with that status unless caught. Further SIGTERMs are ignored while the first one unwinds (the
clean-up is not interrupted halfway). ``renderbench render`` runs inside this block.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any


class Terminated(SystemExit):
    """SIGTERM arrived inside :func:`exit_on_sigterm`; ``code`` is 128 + the signal number."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(128 + signum)
        self.signum = signum

    def __str__(self) -> str:
        return f"terminated by signal {self.signum} ({signal.Signals(self.signum).name})"


@contextlib.contextmanager
def exit_on_sigterm() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` in the main thread.

    The previous handler is restored on exit. Outside the main thread (where Python cannot
    install signal handlers) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal raised
        if raised:
            return  # the first one is unwinding: let its clean-up finish
        raised = True
        raise Terminated(signum)

    previous: Any = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
