"""Renderer options: each renderer declares a frozen dataclass of them, built once per render.

``job.options`` is a mapping (from Python or ``--option KEY=VALUE``); :meth:`Options.from_mapping`
turns it into the renderer's dataclass, refusing an unknown key with the list of known ones and
a value of the wrong kind with a message naming the option, the same way for every renderer.
A field declares its kind with :func:`integer`, :func:`choice`, :func:`flag`, :func:`boolean`,
:func:`text` or :func:`directory`; ``None`` (given or by default) means "the renderer decides".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from impls.errors import InvalidJob

O = TypeVar("O", bound="Options")

Parse = Callable[[str, Any], Any]


@dataclasses.dataclass(frozen=True)
class Options:
    """Base of every renderer's options (it declares none itself)."""

    @classmethod
    def from_mapping(cls: type[O], renderer: str, values: Mapping[str, Any]) -> O:
        """The options in ``values``; :class:`InvalidJob` names an unknown or bad one."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            listed = ", ".join(sorted(known)) or "none"
            raise InvalidJob(
                f"unknown option(s) {', '.join(unknown)} for {renderer}; known: {listed}"
            )
        parsed: dict[str, Any] = {}
        for name, value in values.items():
            if value is None:
                continue  # the default
            parse: Parse | None = known[name].metadata.get("parse")
            parsed[name] = value if parse is None else parse(name, value)
        return cls(**parsed)


def _field(default: Any, parse: Parse) -> Any:
    return dataclasses.field(default=default, metadata={"parse": parse})


def _integer(low: int, high: int | None, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidJob(f"option {name!r} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise InvalidJob(f"option {name!r} must be {bounds}, got {value}")
    return value


def _choice(allowed: tuple[str, ...], name: str, value: Any) -> str:
    if value not in allowed:
        raise InvalidJob(f"option {name!r} must be one of {', '.join(allowed)}; got {value!r}")
    return str(value)


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidJob(f"option {name!r} must be true or false, got {value!r}")
    return value


def _directory(name: str, value: Any) -> str:
    if not Path(value).is_dir():
        raise InvalidJob(
            f"option {name!r} must be an existing directory that every worker sees, got {value!r}"
        )
    return str(value)


def integer(default: int | None = None, *, low: int = 1, high: int | None = None) -> Any:
    """An integer option within ``low``..``high``."""
    return _field(default, partial(_integer, low, high))


def choice(allowed: tuple[str, ...], default: str | None = None) -> Any:
    """One of ``allowed``."""
    return _field(default, partial(_choice, allowed))


def flag(default: bool = False) -> Any:
    """On or off (any value is taken for its truth)."""
    return _field(default, lambda name, value: bool(value))


def boolean(default: bool) -> Any:
    """True or false, and nothing else (``1`` or ``"no"`` is refused: a typo must not flip it)."""
    return _field(default, _boolean)


def text(default: str | None = None) -> Any:
    """A string (a path to a program, a method's name)."""
    return _field(default, lambda name, value: str(value))


def directory() -> Any:
    """An existing directory that every worker sees at the same path."""
    return _field(None, _directory)
