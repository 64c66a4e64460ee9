"""Functions run in worker processes by the allocator tests (pickled by reference)."""

from __future__ import annotations

import os
import resource
from typing import Any

import numpy as np

from impls.moviepy import worker


def refaults(rounds: int = 3) -> list[int]:
    """Minor page faults of this thread, per round of allocating, writing and freeing a 1080p
    float64 frame and its uint8 twin: 0 once the memory is reused, more when it is mapped anew."""
    counts = []
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        wide = np.ones((1080, 1920, 3))
        narrow = np.ones((1080, 1920, 3), dtype=np.uint8)
        del wide, narrow
        counts.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
    return counts


def refaults_after_frame(source: worker.FrameSource) -> list[int]:
    """:func:`refaults` in a worker that has computed one frame of ``source``."""
    worker.frame(source, 0)
    return refaults()


def dask_worker_settings() -> dict[str, Any]:
    """What a Dask worker was started with that changes how fast it computes frames."""
    from distributed import get_worker

    callbacks = get_worker().periodic_callbacks
    return {
        "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX"),
        "MALLOC_TRIM_THRESHOLD_": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
        "profiler": "profile" in callbacks,
        "tick_ms": callbacks["tick"].callback_time,
    }
