"""``render()``: one call that renders a MoviePy clip or Manim scenes with any renderer.

    from impls import render
    result = render(clip, "out.mp4")                                 # method="auto"
    result = render("myproject.video:make_clip", "out.mp4")          # a factory
    print(result.info["method"], "-", result.info["method_reason"])

``method="auto"`` picks the fastest valid renderer this machine has measured (see
:mod:`impls.auto`); any registered renderer name can be given instead.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from impls import auto
from impls.errors import InvalidJob, InvalidSource
from impls.ffmpeg.files import check_output_path
from impls.model.protocol import ClipObject, ClipSource, EncoderSpec, ManimSource, Renderer
from impls.model.protocol import RenderJob
from impls.model.protocol import RenderResult, Source, exact_fps
from impls.registry import RENDERERS, get_renderer, refuses
from impls.runtime.executor import DEFAULT_EXECUTOR
from impls.runtime.progress import ProgressTracker, bar_wanted

AUTO = "auto"


def _is_moviepy_clip(obj: object) -> bool:
    """Whether ``obj`` is a MoviePy clip (asked without importing MoviePy when it is not)."""
    clips = sys.modules.get("moviepy.Clip")
    return clips is not None and isinstance(obj, clips.Clip)


def as_source(source: Source | str | Any, kwargs: Mapping[str, Any] | None = None) -> Source:
    """A :class:`ClipSource` from ``"pkg.module:function"`` (+ kwargs), a :class:`ClipObject`
    from a MoviePy clip, or the source given."""
    if _is_moviepy_clip(source):
        if kwargs:
            raise InvalidSource("kwargs= applies to a factory given as a string, not to a clip")
        return ClipObject(source)
    if isinstance(source, str):
        if source.endswith(".py"):
            raise InvalidSource(
                f"{source!r} is a script path: render Manim scenes with "
                "ManimSource(script, scenes=(...)), or name a clip factory as 'pkg.module:function'"
            )
        return ClipSource(source, dict(kwargs or {}))
    if isinstance(source, ClipSource | ClipObject | ManimSource):
        if kwargs:
            raise InvalidSource("kwargs= applies to a factory given as a string; put them in the source")
        return source
    raise InvalidSource(
        f"cannot render a {type(source).__name__}: give a MoviePy clip, 'pkg.module:function', "
        "a ClipSource or a ManimSource"
    )


def _load_renderer(name: str) -> Renderer:
    try:
        return get_renderer(name)
    except KeyError:
        raise InvalidJob(
            f"unknown method {name!r}; use {AUTO!r} or one of: {', '.join(RENDERERS)}"
        ) from None
    except ImportError as exc:
        raise InvalidJob(f"renderer {name!r} is not available: {exc}") from exc


def _usable(name: str, source: Source, executor: str = DEFAULT_EXECUTOR) -> bool:
    try:
        renderer = get_renderer(name)
        return refuses(renderer, executor) is None and renderer.supports(source)
    except (KeyError, ImportError, TypeError):
        return False


def render(
    source: Source | str | Any,
    output: str | Path,
    *,
    method: str = AUTO,
    workers: int | None = None,
    encoder: EncoderSpec | None = None,
    audio: bool = True,
    fallback: bool = False,
    progress: bool | Literal["always"] | Callable[[int], None] = True,
    fps: float | int | str | Fraction | None = None,
    executor: str = DEFAULT_EXECUTOR,
    dask_address: str | None = None,
    dask_security: Any = None,
    timeout: float | None = None,
    retries: int = 1,
    options: Mapping[str, Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
) -> RenderResult:
    """Render ``source`` to ``output`` with ``method`` and return what was written.

    ``source``: a MoviePy clip (pickled once and loaded once by each worker, see
    :mod:`impls.moviepy.clip_transfer`; it is left open), ``"pkg.module:function"`` (called with
    ``kwargs``), a :class:`ClipSource`, :class:`ClipObject` or :class:`ManimSource`.
    ``method``: ``"auto"`` or a renderer name (``baseline``, ``chunk``, ``pipe``, ``disk``,
    ``manim-scenes``, ...). ``workers=None``: the best worker count measured
    for the chosen renderer with ``auto``, else every usable core. ``encoder``: default
    ``EncoderSpec()`` (libx264 medium crf 23). ``progress``: ``True`` draws one bar on stderr
    when it is a terminal, ``"always"`` draws it anyway, ``False`` none; a callable receives
    the number of frames completed instead (from any thread), and its ``set_total(frames)``
    method, if it has one, the frame count as soon as the renderer knows it. ``options``: the
    chosen renderer's own (its options dataclass refuses others). ``dask_security``: a
    ``distributed.Security`` for a TLS scheduler at ``dask_address`` (by default Dask's own
    configuration, ``distributed.comm.tls.*``, applies). The other arguments are the
    :class:`RenderJob` fields of the same names.

    ``result.info["method"]`` and ``result.info["method_reason"]`` say which renderer ran and
    why; ``result.info["requested_workers"]`` the worker count asked of it (None: all cores).
    Errors are :mod:`impls.errors` types; on failure no file is left at ``output``.
    """
    src = as_source(source, kwargs)
    job = RenderJob(
        source=src, output=Path(output), workers=workers,
        encoder=EncoderSpec() if encoder is None else encoder,
        fps=None if fps is None else exact_fps(fps), audio=audio, executor=executor,
        dask_address=dask_address, dask_security=dask_security, timeout=timeout, retries=retries,
        fallback=fallback,
        options=dict(options or {}),
    )  # fmt: skip
    check_output_path(job.output)  # cheapest mistake first, before choosing or loading

    if method == AUTO:
        kind = auto.source_kind(src)
        try:
            choice = auto.choose(kind, lambda name: _usable(name, src, executor), executor=executor)
        except LookupError as exc:
            raise InvalidJob(str(exc)) from exc
        name, reason = choice.method, choice.reason
        if workers is None and choice.workers is not None:
            job = dataclasses.replace(job, workers=choice.workers)
    else:
        name, reason = method, "requested"
    renderer = _load_renderer(name)
    if not renderer.supports(src):
        kind_label = "Manim scenes" if isinstance(src, ManimSource) else "MoviePy clips"
        fitting = [n for n in RENDERERS if _usable(n, src)]
        raise InvalidJob(
            f"renderer {name!r} does not render {kind_label}; use one of: {', '.join(fitting)}"
        )

    if callable(progress):
        tracker = ProgressTracker(forward=progress)
    else:
        # The total arrives from the renderer (ProgressTracker.set_total) once it has built
        # the clip: building one here just to size the bar can cost seconds.
        draw = bar_wanted(bool(progress), force=progress == "always")
        tracker = ProgressTracker(None, desc=f"{job.output.name} [{name}]", bar=draw)
    job = dataclasses.replace(job, progress=tracker)

    try:
        result = renderer.render(job)
    except BaseException:
        tracker.abort()
        raise
    tracker.finish(result.frames)
    result.info.update(
        method=name, method_reason=reason, requested_workers=job.workers,
        progress_reported=tracker.reported,
    )  # fmt: skip
    return result
