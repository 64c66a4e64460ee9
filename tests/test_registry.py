"""The renderer registry: built-in names, run-time registration, third-party entry points."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from impls import RENDERERS, ClipSource, RenderJob, RenderResult, Source, get_renderer
from impls.model.protocol import Renderer
from impls.registry import ENTRY_POINT_GROUP, _Registry

BUILT_IN = ["baseline", "disk", "pipe", "chunk", "manim-serial", "manim-scenes", "manim-inflight", "manim-ranges"]


class EchoRenderer:
    """A third-party renderer as another package would ship it (renders nothing)."""

    name = "echo"

    def supports(self, source: Source) -> bool:
        return isinstance(source, ClipSource)

    def render(self, job: RenderJob) -> RenderResult:
        return RenderResult(output=job.output, renderer=self.name, frames=0, duration=0.0, fps=Fraction(1))


class NotARenderer:
    name = "broken"


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A distribution on sys.path declaring renderers in the entry-point group, like a wheel."""
    dist = tmp_path / "thirdparty_renderers-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-renderers\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        f"echo = {__name__}:EchoRenderer\n"
        "missing = thirdparty_renderers_not_installed:Renderer\n"
        f"broken = {__name__}:NotARenderer\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path


def test_built_in_renderers_are_listed() -> None:
    assert list(RENDERERS)[: len(BUILT_IN)] == BUILT_IN
    assert "baseline" in RENDERERS


def test_get_renderer_returns_a_renderer() -> None:
    renderer = get_renderer("baseline")
    assert isinstance(renderer, Renderer)
    assert renderer.name == "baseline"
    assert get_renderer("baseline") is renderer  # loaded once


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"unknown renderer 'nope'; known: baseline, disk, pipe, chunk"):
        get_renderer("nope")


def test_entry_point_renderers_are_loaded(installed_plugin: Path) -> None:
    registry = _Registry()
    assert {"echo", "missing", "broken"} <= set(registry)
    assert list(registry)[: len(BUILT_IN)] == BUILT_IN
    echo = registry["echo"]
    assert isinstance(echo, EchoRenderer)
    result = echo.render(RenderJob(source=ClipSource(f"{__name__}:EchoRenderer"), output=Path("x.mp4")))
    assert result.renderer == "echo"


def test_broken_entry_points_say_which_renderer(installed_plugin: Path) -> None:
    registry = _Registry()
    with pytest.raises(ImportError, match=r"renderer 'missing' \(entry point 'thirdparty_renderers_not_installed:Renderer'"):
        registry["missing"]
    with pytest.raises(TypeError, match="does not implement the Renderer protocol"):
        registry["broken"]


def test_register_and_unregister_at_run_time() -> None:
    echo = EchoRenderer()
    RENDERERS.register(echo)
    try:
        assert get_renderer("echo") is echo
        assert "echo" in RENDERERS and "echo" in list(RENDERERS)
    finally:
        RENDERERS.unregister("echo")
    assert "echo" not in RENDERERS
    with pytest.raises(KeyError):
        get_renderer("echo")


def test_register_rejects_non_renderers() -> None:
    with pytest.raises(TypeError, match="Renderer protocol"):
        RENDERERS.register(NotARenderer())  # type: ignore[arg-type]
    assert "broken" not in RENDERERS
