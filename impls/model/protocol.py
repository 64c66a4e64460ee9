"""The protocol every renderer speaks: what to render, how, and what came out.

Sources say what to render: a clip factory that any process (or machine) calls to build the
clip itself (:class:`ClipSource`), Manim scenes (:class:`ManimSource`), or the caller's own
clip (:class:`ClipObject`), which a render sends to its workers pickled
(:mod:`impls.moviepy.clip_transfer`).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import inspect
import math
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from impls.errors import InvalidJob, InvalidSource, RenderbenchError
from impls.runtime.executor import DEFAULT_EXECUTOR, executor_names

if TYPE_CHECKING:
    from moviepy import VideoClip

#: Pixel formats whose chroma is subsampled in both directions: width and height must be even.
_SUBSAMPLED_420 = frozenset({"yuv420p", "yuvj420p", "yuva420p", "nv12", "yuv420p10le"})
#: Pixel formats that carry alpha (ffmpeg's names, any bit depth or endianness).
_ALPHA_PREFIXES = ("yuva", "gbrap", "ya8", "ya16", "rgba", "bgra", "argb", "abgr", "ayuv", "vuya")


@dataclass(frozen=True)
class ClipSource:
    """A MoviePy clip described by an importable factory, ``"pkg.module:function"`` + kwargs.

    Every worker process calls the factory itself, so the clip is never pickled.
    """

    factory: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        module, sep, attr = str(self.factory).partition(":")
        dotted = all(part.isidentifier() for part in [*module.split("."), *attr.split(".")])
        if not isinstance(self.factory, str) or not sep or not dotted:
            raise InvalidSource(
                f"factory {self.factory!r} must look like 'pkg.module:function' (Python names "
                "separated by dots, the module's and the function's)"
            )

    def resolve(self) -> Callable[..., Any]:
        """Import the factory callable (raises :class:`InvalidSource` with the reason)."""
        module_name, _, attr = self.factory.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise InvalidSource(f"cannot import factory module {module_name!r}: {exc}") from exc
        obj: Any = module
        for part in attr.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError as exc:
                raise InvalidSource(
                    f"module {module_name!r} has no attribute {attr!r} (factory {self.factory!r})"
                ) from exc
        if not callable(obj):
            raise InvalidSource(f"factory {self.factory!r} is not callable")
        return obj  # type: ignore[no-any-return]

    def load(self) -> VideoClip:
        """Build the clip and check that it can be rendered (a clip with a positive duration)."""
        factory = self.resolve()
        kwargs = dict(self.kwargs)
        try:
            signature: inspect.Signature | None = inspect.signature(factory)
        except (TypeError, ValueError):  # a builtin that states none
            signature = None
        if signature is not None:
            try:
                signature.bind(**kwargs)
            except TypeError as exc:
                raise InvalidSource(f"factory {self.factory!r} does not take these arguments: {exc}") from None
        failure: InvalidSource | None = None
        with _half_built_readers_dropped_quietly():
            try:
                clip = factory(**kwargs)
            except OSError as exc:  # MoviePy refusing a file it was given: not media, cut short
                if isinstance(exc, RenderbenchError):  # ToolNotFound is one too
                    raise
                text = " ".join(str(exc).split())
                failure = InvalidSource(f"factory {self.factory!r} failed reading a file: {text}")
                failure.add_note("the factory's traceback:\n" + "".join(traceback.format_exception(exc)))
            if failure is not None:
                gc.collect()  # the traceback's frames held the half-built readers
        if failure is not None:
            raise failure
        return _renderable(clip, f"factory {self.factory!r} returned", f"clip from {self.factory!r}")

    def release(self, clip: VideoClip) -> None:
        """Close a clip :meth:`load` built (its readers' ffmpeg processes)."""
        clip.close()


class ClipObject:
    """The caller's own MoviePy clip, rendered without a factory: ``render(clip, "out.mp4")``.

    A render pickles it once, in the caller, and each worker loads it once
    (:mod:`impls.moviepy.clip_transfer`). In the caller it stays the caller's: :meth:`load`
    returns it, and renderers read it but never close it (:meth:`release`). It travels to the
    workers only that way, never pickled as a source.
    """

    def __init__(self, clip: Any) -> None:
        self.clip: VideoClip = _renderable(clip, "cannot render a", "the clip")

    def load(self) -> VideoClip:
        """The caller's clip itself (no copy is built)."""
        return self.clip

    def release(self, clip: VideoClip) -> None:
        """Nothing: the clip is the caller's, still open for them after the render."""

    def __repr__(self) -> str:
        return f"ClipObject({type(self.clip).__name__}, duration={self.clip.duration!r})"

    def __reduce__(self) -> Any:
        raise InvalidSource(
            "a ClipObject is not pickled as a source: a render sends its clip to the workers "
            "itself, once (render(clip, ...) or a renderer's render(job))"
        )


def _renderable(clip: Any, kind: str, which: str) -> VideoClip:
    """``clip`` when it is a MoviePy video clip with a finite duration > 0; else
    :class:`InvalidSource` (``kind`` leads the wrong-type message, ``which`` the duration's)."""
    from moviepy import VideoClip

    if not isinstance(clip, VideoClip):
        raise InvalidSource(f"{kind} {type(clip).__name__}, not a MoviePy VideoClip")
    duration = clip.duration
    if duration is None or not math.isfinite(duration) or duration <= 0:
        raise InvalidSource(
            f"{which} has duration {duration!r}; it needs a finite duration > 0"
            " (set it with clip.with_duration(seconds))"
        )
    return clip


@contextlib.contextmanager
def _half_built_readers_dropped_quietly() -> Iterator[None]:
    """While a factory runs: MoviePy's file readers whose constructor failed (a file that is
    not media) raise AttributeError from ``__del__`` when they are collected, which Python
    prints after the one-line error; those are dropped, anything else reported as usual."""
    report = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        where = str(getattr(unraisable.object, "__module__", "") or "")
        if isinstance(unraisable.exc_value, AttributeError) and where.startswith("moviepy."):
            return
        report(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = report


@dataclass(frozen=True)
class ManimSource:
    """Manim scenes to render in order, each optionally with its own narration audio file."""

    script: Path
    scenes: tuple[str, ...]
    audio: Mapping[str, Path] = field(default_factory=dict)
    quality: str = "l"  # manim's -q letter: l, m, h, p, k
    fps: Fraction | None = None  # None: manim's default for the quality
    padding: float = 0.0  # seconds of the held last frame (and silence) after each scene
    # A scene that plays no animation (manim saves only its picture): shown for its narration's
    # length, else this many seconds; None: such a scene fails.
    still_duration: float | None = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "script", Path(self.script))
        object.__setattr__(self, "scenes", tuple(self.scenes))
        object.__setattr__(self, "audio", {k: Path(v) for k, v in dict(self.audio).items()})
        if not self.scenes:
            raise InvalidSource("ManimSource needs at least one scene name")
        if self.quality not in {"l", "m", "h", "p", "k"}:
            raise InvalidSource(f"unknown manim quality {self.quality!r}; use one of l, m, h, p, k")
        unknown = set(self.audio) - set(self.scenes)
        if unknown:
            raise InvalidSource(f"audio given for scenes not rendered: {sorted(unknown)}")
        if self.padding < 0:
            raise InvalidSource(f"padding must be >= 0 seconds, got {self.padding}")
        still = self.still_duration
        if still is not None and not (math.isfinite(still) and still > 0):
            raise InvalidSource(f"still_duration must be > 0 seconds (or None), got {still}")


#: What the MoviePy renderers render: a factory's clip, or the caller's own.
MoviePySource = ClipSource | ClipObject

Source = ClipSource | ClipObject | ManimSource


@dataclass(frozen=True)
class EncoderSpec:
    """How frames become a video stream. Field names are public API."""

    codec: str = "libx264"
    preset: str | None = "medium"
    crf: int | None = 23
    pix_fmt: str = "yuv420p"
    threads: int | None = None
    bitrate: str | None = None
    extra: tuple[str, ...] = ()
    audio_codec: str = "aac"
    audio_bitrate: str | None = None

    @classmethod
    def lossless(cls) -> EncoderSpec:
        """libx264 crf 0: decoded frames of every correct renderer equal the baseline's."""
        return cls(codec="libx264", preset="medium", crf=0, pix_fmt="yuv420p")

    @classmethod
    def parse(cls, text: str) -> EncoderSpec:
        """Parse ``codec[:preset[:crf[:options]]]``, e.g. ``libx264:veryfast:23``.

        An empty part takes the default, ``-`` means "not set". ``options`` are ``name=value``
        joined by ``+``: ``pix_fmt``, ``bitrate`` and ``threads`` set those fields, ``args``
        adds raw ffmpeg arguments (split on spaces), any other name becomes the ffmpeg output
        option ``-name value`` (in order), e.g.
        ``libvpx-vp9:-:32:deadline=realtime+cpu-used=8+row-mt=1``. Everything after the third
        ``:`` is options, so values may hold colons (``x265-params=a=1:b=2``).

        Codecs without x264-style presets get codec-appropriate defaults when the text leaves
        them out (ProRes: no preset, no crf, yuv422p10le; VP9: no preset).
        """
        parts = text.split(":", 3)
        if not parts[0]:
            raise InvalidJob(f"encoder {text!r} must look like codec[:preset[:crf[:options]]]")
        kwargs: dict[str, Any] = {"codec": parts[0], **_PARSE_DEFAULTS.get(parts[0], {})}
        if len(parts) > 1 and parts[1]:
            kwargs["preset"] = None if parts[1] == "-" else parts[1]
        if len(parts) > 2 and parts[2]:
            try:
                kwargs["crf"] = None if parts[2] == "-" else int(parts[2])
            except ValueError as exc:
                raise InvalidJob(f"crf in encoder {text!r} must be an integer") from exc
        if len(parts) > 3 and parts[3]:
            kwargs.update(_parse_options(text, parts[3]))
        return cls(**kwargs)

    @property
    def label(self) -> str:
        """Short stable id, e.g. ``libx264:medium:23``; :meth:`parse` reads it back.

        Options appear only when set (``pix_fmt`` when it is not the codec's default).
        """
        base = [self.codec, self.preset or "-", "-" if self.crf is None else str(self.crf)]
        options: list[str] = []
        default_pix_fmt = _PARSE_DEFAULTS.get(self.codec, {}).get("pix_fmt", "yuv420p")
        if self.pix_fmt != default_pix_fmt:
            options.append(f"pix_fmt={self.pix_fmt}")
        if self.bitrate is not None:
            options.append(f"bitrate={self.bitrate}")
        if self.threads is not None:
            options.append(f"threads={self.threads}")
        options += _extra_options(self.extra)
        return ":".join(base + (["+".join(options)] if options else []))

    @property
    def is_lossless(self) -> bool:
        """Whether decoded frames equal the encoder's input exactly (after pix_fmt conversion).

        x264's crf 0 is lossless at 8 bits only; x265's crf 0 is not lossless at all (it needs
        ``-x265-params lossless=1``).
        """
        if self.bitrate is not None:
            return False
        if self.codec == "libx264":
            return self.crf == 0 and not any(depth in self.pix_fmt for depth in ("10", "12", "16"))
        if self.codec == "libx265":
            return "lossless=1" in " ".join(self.extra)
        return False

    @property
    def has_alpha(self) -> bool:
        return self.pix_fmt.startswith(_ALPHA_PREFIXES)

    def check_size(self, width: int, height: int) -> None:
        if width < 1 or height < 1:
            raise InvalidJob(f"frame size {width}x{height} is empty: a clip needs a width and a height >= 1")
        if (width + 128) * (height + 128) >= FFMPEG_MAX_PICTURE:
            raise InvalidJob(
                f"frame size {width}x{height} is larger than ffmpeg can handle (it refuses any "
                f"picture where (width + 128) x (height + 128) >= {FFMPEG_MAX_PICTURE}: the "
                "largest square it takes is 16254x16254): render at a smaller size"
            )
        if self.pix_fmt in _SUBSAMPLED_420 and (width % 2 or height % 2):
            raise InvalidJob(
                f"frame size {width}x{height} is odd, which {self.pix_fmt} cannot encode "
                "(chroma is subsampled by 2): resize the clip to even dimensions, e.g. "
                f"clip.resized(({width - width % 2}, {height - height % 2})), "
                "or use pix_fmt='yuv444p'"
            )


#: ffmpeg refuses every picture whose (width + 128) x (height + 128) reaches this
#: (``av_image_check_size``: its buffers' size must fit an int with room for 8 bytes a pixel).
FFMPEG_MAX_PICTURE = (2**31 - 1) // 8 + 1

#: What :meth:`EncoderSpec.parse` gives a codec for the parts the text leaves out. x264-style
#: presets and crf mean nothing to ProRes (ffmpeg would only warn that they went unused), and
#: prores_ks cannot encode yuv420p (ffmpeg would switch to yuv422p10le behind our back).
_PRORES_DEFAULTS: dict[str, Any] = {"preset": None, "crf": None, "pix_fmt": "yuv422p10le"}
_PARSE_DEFAULTS: dict[str, dict[str, Any]] = {
    "prores_ks": _PRORES_DEFAULTS,
    "prores_aw": _PRORES_DEFAULTS,
    "prores": _PRORES_DEFAULTS,
    "libvpx-vp9": {"preset": None},
}
#: Options of an encoder text that set a field of :class:`EncoderSpec` (not an ffmpeg argument).
_FIELD_OPTIONS = ("pix_fmt", "bitrate", "threads")
#: Raw ffmpeg arguments, split on spaces: for extra arguments that are not name/value pairs.
_RAW_OPTION = "args"
# "+" separates options only where a new "name=" follows: "movflags=+faststart" stays whole.
_OPTION_SEPARATOR = re.compile(r"\+(?=-?[A-Za-z_][\w:.-]*=)")


def _parse_options(text: str, options: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    extra: list[str] = []
    for option in _OPTION_SEPARATOR.split(options):
        name, sep, value = option.partition("=")
        name = name.lstrip("-")
        if not sep or not name or not value:
            raise InvalidJob(
                f"option {option!r} of encoder {text!r} must look like name=value "
                "(options are joined by '+', e.g. deadline=realtime+cpu-used=8)"
            )
        if name == "threads":
            try:
                fields["threads"] = int(value)
            except ValueError:
                raise InvalidJob(f"threads in encoder {text!r} must be an integer") from None
        elif name in _FIELD_OPTIONS:
            fields[name] = value
        elif name == _RAW_OPTION:
            extra += value.split()
        else:
            extra += [f"-{name}", value]
    if extra:
        fields["extra"] = tuple(extra)
    return fields


def _extra_options(extra: tuple[str, ...]) -> list[str]:
    """``extra`` as label options: ``name=value`` pairs, else one ``args=...``."""
    names, values = extra[0::2], extra[1::2]
    pairs = len(names) == len(values) and all(
        len(n) > 1 and n.startswith("-") and "=" not in n and " " not in n + v and v
        for n, v in zip(names, values)
    )
    if pairs:
        return [f"{n[1:]}={v}" for n, v in zip(names, values)]
    return [f"{_RAW_OPTION}={' '.join(extra)}"] if extra else []


ProgressCallback = Callable[[int], None]
"""Called with the number of frames just completed (may be called from a helper thread)."""


@dataclass(frozen=True)
class RenderJob:
    """How to render one source. ``options`` holds renderer-specific knobs (documented there)."""

    source: Source
    output: Path
    workers: int | None = None  # None: the number of usable cores
    encoder: EncoderSpec = field(default_factory=EncoderSpec)
    fps: Fraction | None = None  # override the clip's fps (kept exact, e.g. 30000/1001)
    audio: bool = True
    executor: str = DEFAULT_EXECUTOR  # a registered executor's name (impls.runtime.executor)
    dask_address: str | None = None  # a running Dask scheduler; None: the executor starts one
    timeout: float | None = None  # seconds per unit of work (frame batch, chunk, scene)
    retries: int = 1  # transient failures (lost worker) retried per unit; user errors never
    fallback: bool = False  # re-render with the baseline after a failure
    options: Mapping[str, Any] = field(default_factory=dict)
    progress: ProgressCallback | None = field(default=None, compare=False)
    #: A ``distributed.Security`` for a TLS scheduler at ``dask_address`` (None: Dask's own
    #: configuration, ``distributed.comm.tls.*``, as every Dask client reads it).
    dask_security: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "output", Path(self.output))
        if isinstance(self.source, str):
            object.__setattr__(self, "source", ClipSource(self.source))
        if self.workers is not None and (
            not isinstance(self.workers, int) or isinstance(self.workers, bool) or self.workers < 1
        ):
            raise InvalidJob(f"workers must be an integer >= 1 (or None for all cores), got {self.workers!r}")
        if self.fps is not None:
            object.__setattr__(self, "fps", exact_fps(self.fps))
        if self.executor not in executor_names():
            known = " or ".join(repr(name) for name in executor_names())
            raise InvalidJob(f"executor must be {known}, got {self.executor!r}")
        if self.timeout is not None and not self.timeout > 0:
            raise InvalidJob(f"timeout must be > 0 seconds, got {self.timeout!r}")
        if self.retries < 0:
            raise InvalidJob(f"retries must be >= 0, got {self.retries!r}")


class Stages(dict[str, float]):
    """Seconds per stage of a render (frames, encode, concat, mux...)."""

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Time the block into ``self[name]`` (added to, if the stage repeats)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + time.perf_counter() - started


@dataclass
class RenderResult:
    """What a render produced. ``stages`` holds seconds per stage (frames, encode, concat, mux...)."""

    output: Path
    renderer: str
    frames: int
    duration: float
    fps: Fraction
    wall: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    retries: int = 0
    fallback_used: bool = False
    failures: dict[str, str] = field(default_factory=dict)  # unit (scene, chunk) -> error
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Renderer(Protocol):
    """Structural contract of every renderer, built-in or third-party."""

    name: str

    def supports(self, source: Source) -> bool: ...

    def render(self, job: RenderJob) -> RenderResult: ...


def exact_fps(value: float | int | str | Fraction) -> Fraction:
    """An fps as an exact fraction: 29.97 / 23.976 become 30000/1001 / 24000/1001.

    NTSC rates typed as decimals are snapped to their exact /1001 values because that is what
    the decimal stands for; everything else is kept as given.
    """
    if isinstance(value, bool):
        raise InvalidJob(f"fps must be a number, got {value!r}")
    try:
        if isinstance(value, str):
            fps = Fraction(value)
        elif isinstance(value, Fraction):
            fps = value
        elif isinstance(value, int):
            fps = Fraction(value)
        else:
            number = float(value)  # also NumPy scalars (a clip's fps may be np.float32)
            if not math.isfinite(number):
                raise InvalidJob(f"fps must be finite and > 0, got {value!r}")
            fps = Fraction(number).limit_denominator(1001)
    except InvalidJob:
        raise
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise InvalidJob(f"fps {value!r} is not a number") from exc
    if fps <= 0:
        raise InvalidJob(f"fps must be > 0, got {value!r}")
    if fps.denominator != 1 and fps.denominator != 1001:
        for base in (24, 30, 48, 60, 120):
            ntsc = Fraction(base * 1000, 1001)
            if abs(fps - ntsc) < Fraction(1, 200):
                return ntsc
    return fps
