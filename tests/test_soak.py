"""Soak: one process renders the full-HD slideshow 20 times; it must keep nothing.

Runs ``results/soak/soak.py`` (``pipe``, 2 workers, 1920x1080, 10 s, 20 renders: about 20
minutes on 2 cores) and checks its table: after the first render (imports, caches, the
forkserver), memory grows by less than 100 MiB over the other 19 renders (one leaked full-HD
frame per render would be 118 MiB, a leaked clip far more), and open files, threads, child
processes, scratch entries and shared-memory blocks stay as they were.

Marked ``soak``: left out of ``make test``; run it with ``pytest -m soak``.
``RENDERBENCH_SOAK_ARGS`` adds arguments to soak.py, e.g. ``--renders 3 --width 320 --height
180 --duration 1`` for a quick try, or ``--out results/soak`` to write the committed table.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.soak

ROOT = Path(__file__).resolve().parent.parent
SOAK_ARGS_ENV = "RENDERBENCH_SOAK_ARGS"
#: Memory a process may gain between its first render and its last (MiB).
MAX_GROWTH_MB = 100.0


def test_twenty_full_hd_renders_in_one_process_keep_nothing(tmp_path: Path) -> None:
    extra = shlex.split(os.environ.get(SOAK_ARGS_ENV, ""))
    args = ["--out", str(tmp_path), *extra]  # later arguments win
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "results" / "soak" / "soak.py"), *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=4 * 3600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = tmp_path
    for flag, value in zip(args, args[1:]):
        if flag == "--out":
            out = ROOT / value
    data = json.loads((out / "soak.json").read_text())
    rows: list[dict[str, Any]] = data["rows"]
    assert len(rows) == data["args"]["renders"] + 1 >= 3
    first, last = rows[1], rows[-1]
    for key in ("rss_mb", "uss_mb"):
        assert last[key] - first[key] < MAX_GROWTH_MB, (key, [row[key] for row in rows])
    for row in rows[1:]:
        steady = {key: row[key] for key in ("fds", "threads")}
        assert steady == {key: first[key] for key in ("fds", "threads")}, row
        assert (row["children"], row["scratch"], row["shm"]) == (0, 0, 0), row
        assert row["mp_services"] <= 2, row
    print(f"soak table: {out / 'README.md'}")
