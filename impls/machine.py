"""Facts about the machine a benchmark ran on, recorded with every result and matched later.

One function serves both sides: the harness stores ``machine_facts()`` in each result row, and
``method="auto"`` trusts only rows whose facts match this machine (:func:`same_machine`), so a
number measured on a 32-core workstation never picks the renderer for a 2-core laptop.
"""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from impls.errors import ToolNotFound
from impls.ffmpeg.tools import ffmpeg_binary, ffmpeg_version
from impls.runtime.executor import usable_cores

#: The facts that decide whether two results come from the same machine.
IDENTITY_KEYS = ("cores", "cpu_model")


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() in {"model name", "Model", "Hardware"} and value.strip():
                return value.strip()
    if sys.platform == "darwin":
        proc = subprocess.run(
            ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, check=False
        )
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
    return platform.processor() or platform.machine() or "unknown"


def _version(distribution: str) -> str | None:
    # Package metadata, not the module attribute: moviepy 2.2.1 reports "2.1.2" in __version__.
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _ffmpeg() -> tuple[str | None, str | None]:
    try:
        return ffmpeg_version(), ffmpeg_binary()
    except ToolNotFound:
        return None, None


@functools.cache
def _facts() -> tuple[tuple[str, Any], ...]:
    version, path = _ffmpeg()
    return (
        ("cores", usable_cores()),
        ("cpu_model", _cpu_model()),
        ("ffmpeg", version),
        ("ffmpeg_path", path),
        ("moviepy", _version("moviepy")),
        ("manim", _version("manim")),
        ("python", platform.python_version()),
        ("platform", platform.platform()),
    )


def machine_facts() -> dict[str, Any]:
    """This machine: cores (usable by this process), cpu_model, ffmpeg/moviepy/manim/python
    versions (None when absent), ffmpeg_path and platform. Computed once per process; a fresh dict each call.
    """
    return dict(_facts())


def same_machine(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two fact sets describe the same kind of machine (same core count and CPU model).

    Tool versions are deliberately not compared: they are reported beside a result, but a
    patch release of ffmpeg does not make a measurement of the same hardware worthless.
    """
    for key in IDENTITY_KEYS:
        left, right = a.get(key), b.get(key)
        if left is None or right is None:
            return False
        if str(left).strip() != str(right).strip():
            return False
    return True
