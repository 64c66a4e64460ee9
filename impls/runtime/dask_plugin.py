"""What a private Dask cluster's worker processes do when they start (imports ``distributed``).

Kept apart from :mod:`impls.runtime.dask` because a worker plugin must subclass Dask's own class,
and Dask is an optional extra: this module is imported only once a cluster is being opened.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin


class OwnProcessGroup(WorkerPlugin):
    """Moves each worker process (and so the readers and encoders it starts) out of the
    terminal's process group: a Ctrl-C reaches the render's own process, which decides what
    it means and tears the cluster down, instead of killing workers mid-task."""

    name = "renderbench-own-process-group"

    def setup(self, worker: Any) -> None:
        with contextlib.suppress(OSError):  # already a group leader
            os.setpgid(0, 0)
