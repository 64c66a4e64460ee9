"""glibc malloc settings for the processes that compute frames.

MoviePy computes each frame through several frame-sized NumPy arrays (a 1080p RGB frame in
float64 is 50 MB). glibc serves an allocation above its mmap threshold (dynamic, never above
32 MiB) with a fresh ``mmap`` and returns freed memory at the top of its heap above its trim
threshold, so every frame faults the pages of its arrays in again, and the kernel zeroes each
one. With the thresholds below those page faults are gone, at the same peak RSS (the same
arrays exist at once; they are only reused); the README has the measurements.

Set in each worker process by :func:`tune`, at run time: it works in a local pool's workers,
in a Dask worker started by anyone, and whatever the start method. The baseline (MoviePy
as-is, in the caller's process) is left alone.
"""

from __future__ import annotations

import ctypes
import platform

#: Allocations up to this size come from the heap (a 1080p RGBA float64 array is 66 MB).
MMAP_THRESHOLD = 128 << 20

#: Free memory kept at the top of the heap for the next frame's arrays.
TRIM_THRESHOLD = 512 << 20

# mallopt(3) parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

_tuned: bool | None = None


def tune() -> bool:
    """Raise this process's mmap and trim thresholds, once; whether they are in effect.

    False where the C library is not glibc (musl, macOS). Values from the environment
    (``MALLOC_TRIM_THRESHOLD_``) are overridden: a Dask nanny sets that one to 64 KiB for
    every worker it starts, which makes every frame-sized array a fresh mapping again.
    """
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if platform.libc_ver()[0] != "glibc":
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success.
    _tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _tuned
