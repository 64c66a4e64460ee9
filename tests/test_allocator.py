"""Frame workers keep frame-sized arrays in the heap (impls.moviepy.allocator); the caller's process
(where the baseline renders) is left as it was."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from harness.workloads import FRAME_INDEX
from impls import ClipSource
from impls.moviepy import worker
from impls.runtime import local
from tests import alloc_probe
from tests.renders import TINY_FRAME_INDEX

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")


def _refaults_in_a_new_process(tune: bool) -> list[int]:
    code = (
        "import json; from impls.moviepy import allocator; from tests import alloc_probe; "
        f"tuned = allocator.tune() if {tune} else None; "
        "print(json.dumps([tuned, alloc_probe.refaults()]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    tuned, counts = json.loads(out)
    assert tuned is (True if tune else None)
    return list(counts)


def test_tuned_process_reuses_frame_sized_arrays() -> None:
    # glibc's defaults map a 50 MB array anew each time (its pages fault in again); tuned,
    # the second and third rounds reuse the heap and fault nothing.
    assert _refaults_in_a_new_process(tune=False)[1:] != [0, 0]
    assert _refaults_in_a_new_process(tune=True)[1:] == [0, 0]


def test_frame_workers_are_tuned_and_the_caller_is_not() -> None:
    recipe = worker.FactoryClip(ClipSource(FRAME_INDEX, TINY_FRAME_INDEX), "alloc-test")
    source = worker.FrameSource(recipe, Fraction(30), False, 160, 90)
    pool = local.LocalPool(1, local.default_start_method())
    try:
        counts = pool.submit(alloc_probe.refaults_after_frame, source).result(timeout=120)
    finally:
        pool.close()
    assert counts[1:] == [0, 0], counts
    from impls.moviepy import allocator

    assert allocator._tuned is None  # this process computed no frame: never tuned
