"""pytest glue of renderbench (options, fixtures, parametrisation, session hooks)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "renderbench: a renderbench benchmark case (parametrised by the plugin)"
    )
