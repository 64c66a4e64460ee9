"""``python -m impls script.py [args...]``: ``renderbench exec`` without the ``renderbench``
command: a MoviePy script run unchanged, its videos rendered in parallel
(:mod:`harness.exec_cli`)."""

from __future__ import annotations

import sys

from harness.exec_cli import standalone

if __name__ == "__main__":
    sys.exit(standalone("python -m impls"))
