"""One progress bar for a whole render, fed by every worker through ``RenderJob.progress``.

Renderers call the job's callback with the number of frames just completed, from any thread
(Manim renderers: a scene's frames when the scene is done). :class:`ProgressTracker` is that callback: it counts what was
reported and forwards it to a tqdm bar on stderr and/or to the caller's own callback.

When a bar is drawn: ``render(progress=True)`` draws one only when stderr is a terminal (a bar
in a log file or a CI transcript is noise). ``RENDERBENCH_PROGRESS=1`` forces it on anywhere
(and ``=0`` off); ``progress=False`` or ``--quiet`` always wins.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from tqdm import tqdm

PROGRESS_ENV = "RENDERBENCH_PROGRESS"

_ON = {"1", "true", "yes", "on", "always"}
_OFF = {"0", "false", "no", "off", "never"}


def bar_wanted(requested: bool, *, force: bool = False, stream: TextIO | None = None) -> bool:
    """Whether to draw a bar: never when not requested; else forced, else stderr is a TTY."""
    if not requested:
        return False
    if force:
        return True
    setting = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if setting in _ON:
        return True
    if setting in _OFF:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


class ProgressTracker:
    """Thread-safe progress callback for one render; optionally draws a tqdm bar.

    ``total`` is what 100 % means; ``None`` until the renderer knows it: MoviePy renderers
    call :meth:`set_total` once the clip is built (``preflight.prepare_clip_job``); Manim
    renderers only learn a scene's frames by rendering it, so that bar shows frames done and
    the rate, and becomes 100 % when :meth:`finish` gets the total. Reports past the total (a renderer that falls back to the baseline starts counting
    again) are not drawn beyond 100 %, but :attr:`reported` keeps the raw count.
    """

    def __init__(
        self,
        total: int | None = None,
        *,
        unit: str = "frame",
        desc: str = "",
        bar: bool = False,
        forward: Callable[[int], None] | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.total = total
        self.unit = unit
        self.reported = 0
        self._shown = 0
        self._lock = threading.Lock()
        self._forward = forward
        self._bar: tqdm[Any] | None = None
        if bar:
            self._bar = tqdm(
                total=total, unit=unit, desc=desc or None, file=sys.stderr if stream is None else stream,
                dynamic_ncols=True, leave=True, mininterval=0.2, smoothing=0.2,
            )  # fmt: skip

    @property
    def drawing(self) -> bool:
        return self._bar is not None

    def set_total(self, total: int) -> None:
        """What 100 % means, once the renderer knows (called by ``prepare_clip_job``)."""
        with self._lock:
            self.total = total
            if self._bar is not None:
                self._bar.total = total
                self._bar.refresh()
        forward_total = getattr(self._forward, "set_total", None)
        if callable(forward_total):
            forward_total(total)

    def __call__(self, done: int) -> None:
        if done <= 0:
            return
        with self._lock:
            self.reported += done
            if self._bar is not None:
                step = done if self.total is None else min(done, self.total - self._shown)
                if step > 0:
                    self._shown += step
                    self._bar.update(step)
        if self._forward is not None:
            self._forward(done)

    def finish(self, total: int | None = None) -> None:
        """The render succeeded: the bar shows every unit done (100 %) and is closed.

        ``total`` (the count the result reports) replaces an estimate made beforehand.
        """
        with self._lock:
            if self._bar is not None:
                if total is not None and total != self.total:
                    self.total = total
                    self._bar.total = total
                if self.total is not None and self._shown < self.total:
                    self._bar.update(self.total - self._shown)
                elif self.total is not None and self._shown > self.total:
                    self._bar.n = self.total
                    self._bar.refresh()
                self._shown = self.total if self.total is not None else self._shown
                self._bar.close()
                self._bar = None

    def abort(self) -> None:
        """The render failed: close the bar where it stopped."""
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
