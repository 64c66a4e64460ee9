"""The packaged benchmark: the matrix of the ``--renderbench-*`` options, nothing else.

``renderbench run`` (and so ``make bench``) runs pytest on this file; it also runs directly:
``pytest harness/suite.py --renderbench-preset smoke``.
"""

from __future__ import annotations

import pytest

from harness.matrix import Case
from harness.plugin import RenderAndMeasure


@pytest.mark.renderbench
def test_render(renderbench_case: Case, render_and_measure: RenderAndMeasure) -> None:
    render_and_measure(renderbench_case)
