"""Renderers by name: the built-in ones plus those other packages register.

A third-party package adds a renderer with an entry point in the group
``renderbench.renderers`` whose object is a renderer class (or instance).

Beyond the protocol a renderer may say why it cannot run here (``unavailable_reason()``) or on
an executor (``executor_reason(executor)``); :func:`unavailable` and :func:`refuses` ask those
of any renderer, answering None for one that does not have them.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any

from impls.model.protocol import Renderer

ENTRY_POINT_GROUP = "renderbench.renderers"

#: name -> "module:Class" of the built-in renderers, imported on first use.
_BUILTIN: dict[str, str] = {
    "baseline": "impls.moviepy.baseline:BaselineRenderer",
    "disk": "impls.moviepy.disk:renderer",
    "pipe": "impls.moviepy.pipe:renderer",
    "chunk": "impls.moviepy.chunk:renderer",
    "manim-serial": "impls.manim.serial:renderer",
    "manim-scenes": "impls.manim.scenes:renderer",
    "manim-inflight": "impls.manim.inflight:renderer",
    "manim-ranges": "impls.manim.ranges:renderer",
}


def _instantiate(obj: Any) -> Renderer:
    renderer = obj() if isinstance(obj, type) else obj
    if not isinstance(renderer, Renderer):
        raise TypeError(f"{obj!r} does not implement the Renderer protocol (name, supports, render)")
    return renderer


class _Registry(Mapping[str, Renderer]):
    """A read-only mapping name -> renderer that loads entries lazily."""

    def __init__(self) -> None:
        self._loaded: dict[str, Renderer] = {}
        self._external: dict[str, Any] | None = None

    def _external_points(self) -> dict[str, Any]:
        if self._external is None:
            self._external = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
        return self._external

    def _names(self) -> list[str]:
        names = list(_BUILTIN)
        names += [n for n in self._external_points() if n not in _BUILTIN]
        return names

    def __getitem__(self, name: str) -> Renderer:
        if name in self._loaded:
            return self._loaded[name]
        if name in _BUILTIN:
            module, _, attr = _BUILTIN[name].partition(":")
            renderer = _instantiate(getattr(importlib.import_module(module), attr))
        elif name in self._external_points():
            point = self._external_points()[name]
            try:
                loaded = point.load()
            except Exception as exc:  # a broken third-party package: say which one
                raise ImportError(
                    f"renderer {name!r} (entry point {point.value!r} in group "
                    f"{ENTRY_POINT_GROUP!r}) cannot be loaded: {exc}"
                ) from exc
            renderer = _instantiate(loaded)
        else:
            raise KeyError(name)
        self._loaded[name] = renderer
        return renderer

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def register(self, renderer: Renderer) -> None:
        """Add a renderer at run time (tests, notebooks)."""
        self._loaded[renderer.name] = _instantiate(renderer)
        if renderer.name not in _BUILTIN:
            self._external_points()[renderer.name] = renderer

    def unregister(self, name: str) -> None:
        self._loaded.pop(name, None)
        self._external_points().pop(name, None)


RENDERERS = _Registry()


def get_renderer(name: str) -> Renderer:
    """The renderer called ``name``; KeyError lists the known names."""
    try:
        return RENDERERS[name]
    except KeyError:
        raise KeyError(f"unknown renderer {name!r}; known: {', '.join(RENDERERS)}") from None


def unavailable(renderer: Renderer) -> str | None:
    """Why ``renderer`` cannot run here (its optional ``unavailable_reason()``), or None."""
    probe = getattr(renderer, "unavailable_reason", None)
    reason = probe() if callable(probe) else None
    return None if reason is None else str(reason)


def refuses(renderer: Renderer, executor: str) -> str | None:
    """Why ``renderer`` cannot run on ``executor`` (its optional ``executor_reason``), or None."""
    probe = getattr(renderer, "executor_reason", None)
    reason = probe(executor) if callable(probe) else None
    return None if reason is None else str(reason)
