"""pytest glue of renderbench: options, configuration, parametrisation and the two fixtures.

Everything else lives in the package (:mod:`harness.session` holds the state and the session
hooks). A benchmark module needs only::

    @pytest.mark.renderbench                      # the matrix from the --renderbench-* options
    def test_render(renderbench_case, render_and_measure):
        render_and_measure(renderbench_case)

``@pytest.mark.renderbench(source=ClipSource("pkg.clips:intro"), renderers="baseline,chunk",
workers=[1, 2], encoders="libx264:veryfast:23", reference="baseline", workload="intro",
mode="auto", encode_limit=False)`` benchmarks a user's own clip instead (every keyword optional;
``encode_limit=True`` also times ffmpeg encoding the clip's frames from memory, for clips whose
frames are cheap to draw).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.live import LiveReporter
from harness.matrix import Case
from harness.options import (
    OptionError,
    OptionSpec,
    add_gate_options,
    add_ini_options,
    add_matrix_options,
    add_output_options,
    parse_settings,
)
from harness.session import XDIST_REASON, RenderbenchSession
from impls.model.results import Row
from impls.runtime.executor import usable_cores

SESSION = pytest.StashKey[RenderbenchSession]()

MARKER = (
    "renderbench(source=None, workload=None, renderers=None, workers=None, encoders=None, "
    "workloads=None, reference=None, mode='auto', encode_limit=False): a renderbench benchmark; the plugin "
    "parametrises its renderbench_case fixture"
)

RenderAndMeasure = Callable[[Case], Row]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("renderbench", "renderbench: benchmark and validate video renderers")
    add_matrix_options(group.addoption)
    add_output_options(group.addoption)
    add_gate_options(group.addoption)
    add_ini_options(parser.addini)


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's configure, whose options we read
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)

    def lookup(spec: OptionSpec) -> object:
        given = config.getoption(spec.dest("renderbench-"))
        return given if given is not None else config.getini(spec.ini)

    try:
        settings = parse_settings(lookup, usable_cores())
    except OptionError as exc:
        raise pytest.UsageError(f"renderbench {exc}") from None
    session = RenderbenchSession(config, settings)
    config.stash[SESSION] = session
    config.pluginmanager.register(session, "renderbench-session")
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    verbosity = int(config.getoption("verbose"))
    if terminal is not None and verbosity >= 0 and not session.xdist:  # -q stays quiet
        # Blocked, like any plugin, with -p no:renderbench-live.
        config.pluginmanager.register(LiveReporter(session, terminal, verbose=verbosity > 0), "renderbench-live")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "renderbench_case" in metafunc.fixturenames:
        metafunc.config.stash[SESSION].generate(metafunc)


@pytest.fixture
def renderbench_case(request: pytest.FixtureRequest) -> Case:
    """The case this test item benchmarks (the plugin parametrises it)."""
    session = request.config.stash[SESSION]
    case_id = getattr(request, "param", None)
    if case_id is None:
        raise pytest.UsageError("renderbench_case is parametrised by the plugin; do not call it directly")
    if session.xdist:
        pytest.skip(XDIST_REASON)
    return session.case_for(request.node.nodeid, str(case_id))


@pytest.fixture
def render_and_measure(request: pytest.FixtureRequest, benchmark: object) -> RenderAndMeasure:
    """Render the round of a case this test item stands for, measure, validate and record it.

    Returns the case's :class:`~impls.model.results.Row` from its rounds so far (every round is
    its own test item, see :mod:`harness.rounds`); raises ``ValidationFailed`` (the test fails)
    when the round's output is invalid, after recording it as invalid.
    """
    session = request.config.stash[SESSION]
    if session.xdist:
        pytest.skip(XDIST_REASON)

    def run(case: Case) -> Row:
        return session.run(case, benchmark, request.node)

    return run
