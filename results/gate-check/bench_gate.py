"""The fps gate's benchmark: the slideshow at 640x360, 2 s (60 frames at 30 fps).

Small enough that a CI job gates in minutes and the false-alarm check (``run.py`` beside this
file) runs in under half an hour on 2 cores; large enough that rendering frames, not starting
processes, decides the speed (the measurements behind the size are in ``README.md`` here).
The workflow ``.github/workflows/fps-gate.yml`` and ``run.py`` both run it:

    .venv/bin/pytest results/gate-check/bench_gate.py --renderbench-renderers pipe \\
        --renderbench-workers 2 --renderbench-rounds 13 --renderbench-warmup 1 \\
        --renderbench-min-speedup pipe=1.3

``RENDERBENCH_GATE_CLIP=WIDTHxHEIGHTxSECONDS`` renders another size (``run.py --tiny``).
Named ``bench_*`` so that ``make test`` does not collect it.
"""

from __future__ import annotations

import os

import pytest

from harness.matrix import Case
from harness.plugin import RenderAndMeasure
from harness.workloads import SLIDESHOW
from impls import ClipSource

CLIP_ENV = "RENDERBENCH_GATE_CLIP"
DEFAULT_CLIP = "640x360x2"


def gate_clip(spec: str) -> ClipSource:
    """The slideshow at ``WIDTHxHEIGHTxSECONDS``, 30 fps."""
    width, height, seconds = spec.lower().split("x")
    return ClipSource(SLIDESHOW, {"width": int(width), "height": int(height), "fps": 30, "duration": float(seconds)})


@pytest.mark.renderbench(source=gate_clip(os.environ.get(CLIP_ENV) or DEFAULT_CLIP), workload="slideshow-gate")
def test_gate(renderbench_case: Case, render_and_measure: RenderAndMeasure) -> None:
    render_and_measure(renderbench_case)
