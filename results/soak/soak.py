"""Soak: one process renders the same clip many times in a row; what does it keep?

After every render it records the process's memory (RSS and USS), open file descriptors,
threads, live child processes (multiprocessing's forkserver and resource tracker are counted
apart: they live as long as the interpreter, by design), entries left in a private temp
directory (every scratch directory of the renders is made there) and the shared-memory blocks it created that are still in /dev/shm. Writes ``soak.json`` and ``README.md``
(the table) into the output folder.

    .venv/bin/python results/soak/soak.py --renders 20 --method pipe --workers 2 \\
        --out results/soak
"""

from __future__ import annotations

import argparse
import json
import multiprocessing.util
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from impls import ClipSource, EncoderSpec, render

_SERVICES = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")


def _children(me: psutil.Process) -> tuple[int, int]:
    """(live children that are not multiprocessing's services, services)."""
    work = services = 0
    for child in me.children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if any(service in cmdline for service in _SERVICES):
            services += 1
        else:
            work += 1
    return work, services


def _scratch(root: Path) -> int:
    """Entries in the soak's private temp root, besides the output folder."""
    return sum(1 for entry in root.iterdir() if entry.name != "out")


#: Names of the shared-memory blocks this process created (other programs' come and go).
_BLOCKS: set[str] = set()


def _record_blocks() -> None:
    """Note the name of every shared-memory block this process creates, as it is drawn."""
    from multiprocessing import shared_memory

    draw = shared_memory._make_filename  # type: ignore[attr-defined]

    def recorded() -> str:
        name: str = draw()
        _BLOCKS.add(name.lstrip("/"))
        return name

    shared_memory._make_filename = recorded  # type: ignore[attr-defined]


def _shared_memory() -> int:
    """Shared-memory blocks this process created that still exist in /dev/shm."""
    return sum(1 for name in _BLOCKS if (Path("/dev/shm") / name).exists())


def _sample(me: psutil.Process, root: Path) -> dict[str, Any]:
    memory = me.memory_full_info()
    work, services = _children(me)
    return {
        "rss_mb": memory.rss / 2**20,
        "uss_mb": memory.uss / 2**20,
        "fds": me.num_fds(),
        "threads": me.num_threads(),
        "children": work,
        "mp_services": services,
        "scratch": _scratch(root),
        "shm": _shared_memory(),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=20)
    parser.add_argument("--method", default="pipe")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("results/soak"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    source = ClipSource(
        "harness.workloads.slideshow:make",
        {"width": args.width, "height": args.height, "duration": args.duration},
    )
    me = psutil.Process()
    _record_blocks()
    # multiprocessing's per-process folder, made now in the system temp dir: it outlives the
    # private one (it is removed at interpreter exit).
    multiprocessing.util.get_temp_dir()
    with tempfile.TemporaryDirectory(prefix="soak-") as private:
        root = Path(private)
        tempfile.tempdir = private  # every scratch directory of the renders goes here
        out = root / "out"
        out.mkdir()
        rows = [{"render": 0, "wall_s": 0.0, **_sample(me, root)}]
        for number in range(1, args.renders + 1):
            started = time.perf_counter()
            render(
                source,
                out / "soak.mp4",
                method=args.method,
                workers=args.workers,
                encoder=EncoderSpec(),
                progress=False,
            )
            wall = time.perf_counter() - started
            time.sleep(1.0)  # let exited workers be reaped before counting
            rows.append({"render": number, "wall_s": wall, **_sample(me, root)})
            print(json.dumps(rows[-1]), flush=True)
    (args.out / "soak.json").write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, "rows": rows}, indent=1))
    (args.out / "README.md").write_text(_table(args, rows))
    return 0


def _table(args: argparse.Namespace, rows: list[dict[str, Any]]) -> str:
    first, last = rows[1], rows[-1]
    lines = [
        "# Soak: one process, the same render again and again",
        "",
        f"`{args.method}` with {args.workers} workers, the slideshow at {args.width}x{args.height}, "
        f"{args.duration:g} s, libx264 medium crf 23, rendered {args.renders} times in one "
        "process (`results/soak/soak.py`). Sampled one second after each render; row 0 is "
        "before the first. `mp services` are multiprocessing's forkserver and resource "
        "tracker, which live as long as the interpreter by design.",
        "",
        "| render | wall s | RSS MB | USS MB | open fds | threads | children | mp services | scratch entries | /dev/shm blocks |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['render']} | {row['wall_s']:.1f} | {row['rss_mb']:.0f} | {row['uss_mb']:.0f} "
            f"| {row['fds']} | {row['threads']} | {row['children']} | {row['mp_services']} "
            f"| {row['scratch']} | {row['shm']} |"
        )
    lines += [
        "",
        f"From render 1 to render {last['render']}: RSS {last['rss_mb'] - first['rss_mb']:+.0f} MB, "
        f"USS {last['uss_mb'] - first['uss_mb']:+.0f} MB, open fds {last['fds'] - first['fds']:+d}, "
        f"threads {last['threads'] - first['threads']:+d}, children {last['children'] - first['children']:+d}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
