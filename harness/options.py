"""renderbench's options, defined once for pytest's parser, the ``renderbench`` CLI and ini files.

``add_matrix_options(addoption, prefix)`` and friends take any ``addoption`` callable: pytest's
``group.addoption`` with the prefix ``renderbench-`` (``--renderbench-workers``), or an argparse
parser's ``add_argument`` with no prefix (``renderbench run --workers``). Every option also has
an ini equivalent (``renderbench_workers = 1,2``); the command line wins over the ini, the ini
over the default. Values stay strings until :func:`parse_settings` turns them into
:class:`Settings`, the one place where they are checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.workloads.presets import DEFAULT_PRESET, PRESETS
from impls.errors import InvalidJob
from impls.model.protocol import EncoderSpec
from impls.runtime.executor import executor_names

PREFIX = "renderbench-"
INI_PREFIX = "renderbench_"
#: Rounds per case when ``--renderbench-rounds auto`` meets an fps gate: enough for the rank
#: test to reach p < 0.05 (4 per run) and for a t interval of moderate width (t = 2.78).
GATE_ROUNDS = 5

AddOption = Callable[..., Any]


class OptionError(ValueError):
    """An option value that cannot be used; the message names the option."""


@dataclass(frozen=True)
class OptionSpec:
    """One option: its name without prefix, help text (without the default) and default text."""

    name: str
    metavar: str | None
    default: str | None
    help: str
    flag: bool = False
    #: For ``--opt [VALUE]``: the value used when the option is given without one.
    const: str | None = None

    def dest(self, prefix: str) -> str:
        return f"{prefix}{self.name}".replace("-", "_")

    @property
    def ini(self) -> str:
        return INI_PREFIX + self.name.replace("-", "_")

    @property
    def help_with_default(self) -> str:
        # Written as text, not %(default)s: the real default is None (so that "not given" can
        # fall back to the ini value), and argparse would print that.
        shown = "off" if self.default is None else self.default
        return f"{self.help} Default: {shown}"


MATRIX_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "renderers", "NAMES", "all",
        "Renderers to benchmark: comma-separated registry names, or 'all' for every one that "
        "imports. The reference of each workload (baseline, manim-serial) always runs.",
    ),
    OptionSpec(
        "workers", "COUNTS", "the preset's",
        "Worker counts, comma-separated; 'cores' is this machine's usable core count "
        "(duplicates are dropped). The presets: full 'cores', smoke and exhaustive '1,2,cores'.",
    ),
    OptionSpec(
        "encoders", "SPECS", "libx264:medium:23",
        "Encoders as codec[:preset[:crf[:options]]], comma-separated; '-' leaves a part unset; "
        "options are name=value joined by '+' (pix_fmt, bitrate, threads, or any ffmpeg output "
        "option), e.g. libvpx-vp9:-:32:deadline=realtime+cpu-used=8, prores_ks:-:-. One this "
        "ffmpeg cannot use is skipped with the reason.",
    ),
    OptionSpec(
        "workloads", "NAMES", "the preset's",
        "Workloads, comma-separated: slideshow, explainer (Manim), edit (cuts of a video file), "
        "captions (TextClip titles over video), explainer-tex (Manim with LaTeX), frame_index, "
        "gradient (cheap frames, compared with ffmpeg encoding them from memory). The presets: "
        "full and smoke 'slideshow,explainer,edit,captions,explainer-tex', exhaustive all.",
    ),
    OptionSpec(
        "preset", "NAME", DEFAULT_PRESET,
        "The matrix: 'full' (1920x1080 30 fps: the slideshow 10 s, the edit and captions 4 s; "
        "the explainer at -qh, the LaTeX explainer at -qm; workers = cores), 'exhaustive' (every "
        "workload at its largest size: the edit and captions 10 s, both explainers at -qh; "
        "workers 1,2,cores) or 'smoke' (tiny clips, for CI).",
    ),
    OptionSpec(
        "executors", "NAMES", "local",
        "Executors for the parallel renderers, comma-separated: local (process pool), dask.",
    ),
    OptionSpec(
        "rounds", "N", "auto",
        f"Timed rounds per case; 'auto' is 3 with the smoke preset and 1 with the others, and "
        f"{GATE_ROUNDS} when an fps gate is set (its verdict needs the spread of several rounds).",
    ),
    OptionSpec(
        "warmup", "N", "0",
        "Untimed renders of each case before its first timed round, so that what a process pays "
        "once (imports, starting the worker processes, files cached on first use) stays out of "
        "the timed rounds; worth it where a render lasts seconds.",
    ),
    OptionSpec(
        "interleave", "on|off", "on",
        "With several rounds, run round 1 of every case (its reference first), then round 2, ... "
        "so that a machine slowing down or speeding up meets every case alike; 'off' runs each "
        "case's rounds back to back.",
    ),
    OptionSpec(
        "lossless", None, None,
        "Encode with libx264 crf 0 instead of --renderbench-encoders and require every output's "
        "decoded frames to equal the reference's exactly.",
        flag=True,
    ),
)  # fmt: skip

OUTPUT_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "results-dir", "DIR", "results",
        "Where the Markdown report and the plots are written.",
    ),
)

GATE_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "min-speedup", "RULES", None,
        "Fail the session unless each renderer reaches this speedup over the reference measured "
        "in the same run, e.g. 'chunk=1.3,pipe=1.2'; 'name@N=X' checks only N workers, "
        "'*=X' every renderer (best worker count otherwise).",
    ),
    OptionSpec(
        "max-fps-drop", "PERCENT", None,
        "Fail the session when a case's fps is more than PERCENT below the saved run given by "
        "--renderbench-compare (or the latest autosaved run).",
    ),
    OptionSpec(
        "compare", "PATH", None,
        "Saved pytest-benchmark JSON for --renderbench-max-fps-drop; without PATH (or 'latest'): "
        "the latest run autosaved in --benchmark-storage for this machine.",
        const="latest",
    ),
)  # fmt: skip

#: Options of the gates' statistics, shared with ``renderbench compare``.
VERDICT_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "significance", "ALPHA", "0.05",
        "Risk of a wrong verdict the gates accept: the speedup gate's interval is the two-sided "
        "1-ALPHA confidence interval of the paired per-round speedups, and an fps drop must be "
        "significant at ALPHA in a two-sided Mann-Whitney U test of the round samples.",
    ),
    OptionSpec(
        "inconclusive", "fail|pass", "fail",
        "What a verdict that the measured rounds cannot settle does to the session (the summary "
        "says how many rounds would likely settle it).",
    ),
)  # fmt: skip

ALL_OPTIONS: tuple[OptionSpec, ...] = MATRIX_OPTIONS + OUTPUT_OPTIONS + GATE_OPTIONS + VERDICT_OPTIONS


def add_specs(addoption: AddOption, specs: Sequence[OptionSpec], prefix: str = PREFIX) -> None:
    """Add ``specs`` with ``addoption`` (pytest's or argparse's), names prefixed with ``prefix``."""
    for spec in specs:
        kwargs: dict[str, Any] = {
            "dest": spec.dest(prefix),
            "default": None,
            "help": spec.help_with_default,
        }
        if spec.flag:
            kwargs["action"] = "store_true"
        else:
            kwargs["metavar"] = spec.metavar
            if spec.const is not None:
                kwargs["nargs"] = "?"
                kwargs["const"] = spec.const
        addoption(f"--{prefix}{spec.name}", **kwargs)


def add_matrix_options(addoption: AddOption, prefix: str = PREFIX) -> None:
    """What is benchmarked: renderers x workers x encoders x workloads x executors, rounds."""
    add_specs(addoption, MATRIX_OPTIONS, prefix)


def add_output_options(addoption: AddOption, prefix: str = PREFIX) -> None:
    """Where the report and plots go."""
    add_specs(addoption, OUTPUT_OPTIONS, prefix)


def add_gate_options(addoption: AddOption, prefix: str = PREFIX) -> None:
    """The fps gates that fail a session, and their statistics."""
    add_specs(addoption, GATE_OPTIONS + VERDICT_OPTIONS, prefix)


def add_ini_options(addini: AddOption) -> None:
    """The ini equivalents (``renderbench_workers = 1,2`` in ``[tool.pytest.ini_options]``)."""
    for spec in ALL_OPTIONS:
        addini(spec.ini, spec.help_with_default, type="bool" if spec.flag else "string", default=None)


def forward_args(
    values: dict[str, Any], prefix: str = "", specs: Sequence[OptionSpec] = MATRIX_OPTIONS + GATE_OPTIONS + VERDICT_OPTIONS
) -> list[str]:
    """pytest arguments (``--renderbench-...``) for the options given in an argparse namespace."""
    args: list[str] = []
    for spec in specs:
        value = values.get(spec.dest(prefix))
        if value is None or value is False:
            continue
        if spec.flag:
            args.append(f"--{PREFIX}{spec.name}")
        else:
            args.append(f"--{PREFIX}{spec.name}={value}")
    return args


# ---------------------------------------------------------------------------------------------
# Parsed values


@dataclass(frozen=True)
class SpeedupRule:
    """``renderer[@workers]=minimum``: a renderer must reach ``minimum`` x the reference."""

    renderer: str  # "*" for every renderer
    minimum: float
    workers: int | None = None  # None: the renderer's best worker count

    def __str__(self) -> str:
        at = "" if self.workers is None else f"@{self.workers}"
        return f"{self.renderer}{at}={self.minimum:g}"


@dataclass(frozen=True)
class Settings:
    """Every option, parsed and checked."""

    renderers: tuple[str, ...] | None  # None: all
    workers: tuple[int, ...]
    encoders: tuple[EncoderSpec, ...]
    workloads: tuple[str, ...]
    preset: str
    executors: tuple[str, ...]
    rounds: int
    lossless: bool
    results_dir: Path
    min_speedup: tuple[SpeedupRule, ...]
    max_fps_drop: float | None
    compare: str | None  # "latest" or a path
    warmup: int = 0
    interleave: bool = True
    significance: float = 0.05
    inconclusive_fails: bool = True

    @property
    def confidence(self) -> float:
        """Level of the speedup gate's confidence interval."""
        return 1 - self.significance


Lookup = Callable[[OptionSpec], Any]
"""Returns an option's raw value (command line, else ini), or None when given nowhere."""


def _items(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _count(option: str, text: str, word: str | None = None, minimum: int = 1) -> int:
    """A count >= ``minimum`` given as text (or the ``word`` the caller handles), or the
    :class:`OptionError` naming ``option``."""
    try:
        value = int(text)
    except ValueError:
        alternative = f" or {word!r}" if word else ""
        raise OptionError(f"{option}: {text!r} is not an integer{alternative}") from None
    if value < minimum:
        raise OptionError(f"{option}: {value} must be >= {minimum}")
    return value


def parse_workers(text: str, cores: int) -> tuple[int, ...]:
    counts = {cores if item == "cores" else _count("workers", item, "cores") for item in _items(text)}
    if not counts:
        raise OptionError("workers: give at least one worker count")
    return tuple(sorted(counts))


def parse_encoders(text: str) -> tuple[EncoderSpec, ...]:
    specs: list[EncoderSpec] = []
    for item in _items(text):
        try:
            spec = EncoderSpec.parse(item)
        except InvalidJob as exc:
            raise OptionError(f"encoders: {exc}") from None
        if spec not in specs:
            specs.append(spec)
    if not specs:
        raise OptionError("encoders: give at least one encoder")
    return tuple(specs)


def parse_min_speedup(text: str) -> tuple[SpeedupRule, ...]:
    """``chunk=1.3,pipe@2=1.2,*=1.0``."""
    rules: list[SpeedupRule] = []
    for item in _items(text):
        name, sep, value = item.partition("=")
        name, at, workers_text = name.strip().partition("@")
        if not sep or not name:
            raise OptionError(f"min-speedup: {item!r} must look like renderer=1.3 or renderer@2=1.3")
        try:
            minimum = float(value)
        except ValueError:
            raise OptionError(f"min-speedup: {value!r} in {item!r} is not a number") from None
        if not math.isfinite(minimum) or minimum <= 0:
            raise OptionError(f"min-speedup: {item!r} needs a speedup > 0")
        workers: int | None = None
        if at:
            try:
                workers = int(workers_text)
            except ValueError:
                raise OptionError(f"min-speedup: {workers_text!r} in {item!r} is not a worker count") from None
        rules.append(SpeedupRule(name, minimum, workers))
    return tuple(rules)


def parse_settings(lookup: Lookup, cores: int) -> Settings:
    """Turn raw values into :class:`Settings`; :class:`OptionError` names a bad option."""

    def raw(spec: OptionSpec) -> str:
        value = lookup(spec)
        if value is None or value == "":
            value = spec.default
        return "" if value is None else str(value)

    by_name = {spec.name: spec for spec in ALL_OPTIONS}

    def text(name: str) -> str:
        return raw(by_name[name]).strip()

    def given(name: str) -> str:
        """The option's value from the command line or the ini; '' when given nowhere."""
        value = lookup(by_name[name])
        return "" if value is None else str(value).strip()

    renderers_text = text("renderers")
    renderers = None if renderers_text in {"", "all"} else tuple(dict.fromkeys(_items(renderers_text)))
    preset = text("preset")
    if preset not in PRESETS:
        raise OptionError(f"preset: {preset!r} is not one of {', '.join(PRESETS)}")
    matrix = PRESETS[preset]
    workloads_text = given("workloads")
    workloads = tuple(dict.fromkeys(_items(workloads_text))) if workloads_text else matrix.workloads
    if not workloads:
        raise OptionError("workloads: give at least one workload")
    executors = tuple(dict.fromkeys(_items(text("executors"))))
    for executor in executors:
        if executor not in executor_names():
            raise OptionError(f"executors: {executor!r} is not one of {', '.join(executor_names())}")
    if not executors:
        raise OptionError("executors: give at least one executor")
    min_speedup = parse_min_speedup(text("min-speedup"))
    drop_text = text("max-fps-drop")
    max_fps_drop: float | None = None
    if drop_text:
        try:
            max_fps_drop = float(drop_text.rstrip("%"))
        except ValueError:
            raise OptionError(f"max-fps-drop: {drop_text!r} is not a percentage") from None
        if not 0 <= max_fps_drop < 100:
            raise OptionError(f"max-fps-drop: {max_fps_drop} must be between 0 and 100 (percent)")
    rounds_text = text("rounds")
    if rounds_text == "auto":
        rounds = matrix.rounds
        if min_speedup or max_fps_drop is not None:
            rounds = max(rounds, GATE_ROUNDS)
    else:
        rounds = _count("rounds", rounds_text, "auto")
    lossless_value = lookup(by_name["lossless"])
    lossless = lossless_value in {True, "true", "True", "1", "yes"}
    compare = text("compare") or None
    return Settings(
        renderers=renderers, workers=parse_workers(given("workers") or matrix.workers, cores),
        encoders=(EncoderSpec.lossless(),) if lossless else parse_encoders(text("encoders")),
        workloads=workloads, preset=preset, executors=executors, rounds=rounds, lossless=lossless,
        results_dir=Path(text("results-dir") or "results"),
        min_speedup=min_speedup, max_fps_drop=max_fps_drop, compare=compare,
        warmup=parse_warmup(text("warmup")), interleave=parse_switch("interleave", text("interleave")),
        significance=parse_significance(text("significance")),
        inconclusive_fails=parse_inconclusive(text("inconclusive")),
    )  # fmt: skip


def parse_warmup(text: str) -> int:
    return _count("warmup", text, minimum=0)


_SWITCH = {"on": True, "yes": True, "true": True, "1": True, "off": False, "no": False, "false": False, "0": False}


def parse_switch(name: str, text: str) -> bool:
    try:
        return _SWITCH[text.strip().lower()]
    except KeyError:
        raise OptionError(f"{name}: {text!r} is not on or off") from None


def parse_significance(text: str) -> float:
    try:
        alpha = float(text)
    except ValueError:
        raise OptionError(f"significance: {text!r} is not a number") from None
    if not 0 < alpha < 0.5:
        raise OptionError(f"significance: {alpha:g} must be between 0 and 0.5 (e.g. 0.05)")
    return alpha


def parse_inconclusive(text: str) -> bool:
    """True when an inconclusive verdict fails the session."""
    value = text.strip().lower()
    if value not in {"fail", "pass"}:
        raise OptionError(f"inconclusive: {text!r} is not fail or pass")
    return value == "fail"
