"""A worker killed for memory: WorkerLost says that memory is the likely cause.

For real where the test can make a memory cgroup (v1 or v2, as root): the worker moves into a
cgroup limited to 256 MiB and allocates until the kernel's OOM killer ends it with SIGKILL.
Everywhere: the worker limits its own address space (RLIMIT_AS), allocates until refused and
SIGKILLs itself, as the OOM killer would. A worker killed by SIGKILL at ordinary memory use is
reported as before, without the memory hint.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from impls import WorkerLost, get_renderer
from impls.runtime.memory import cgroup_memory_limit, oom_kills
from tests.test_reliability import clip_job, leaves_nothing, out_dir  # noqa: F401

LIMIT = 256 << 20


def _own_cgroup() -> tuple[str, Path] | None:
    """This process's memory cgroup: ("v1" | "v2", its directory)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return "v1", Path("/sys/fs/cgroup/memory") / path.lstrip("/")
        if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            return "v2", Path("/sys/fs/cgroup") / path.lstrip("/")
    return None


@contextlib.contextmanager
def limited_cgroup() -> Iterator[Path]:
    """A fresh memory cgroup limited to LIMIT, removed afterwards; skips where none can be made."""
    own = _own_cgroup()
    if own is None:
        pytest.skip("no memory cgroup controller here: the RLIMIT_AS case covers it")
    version, parent = own
    group = parent / f"renderbench-oom-{uuid.uuid4().hex[:8]}"
    try:
        group.mkdir()
        if version == "v1":
            (group / "memory.limit_in_bytes").write_text(str(LIMIT))
            with contextlib.suppress(OSError):  # with swap accounting: no swap either
                (group / "memory.memsw.limit_in_bytes").write_text(str(LIMIT))
        else:
            (group / "memory.max").write_text(str(LIMIT))
            with contextlib.suppress(OSError):
                (group / "memory.swap.max").write_text("0")
    except OSError as exc:
        with contextlib.suppress(OSError):
            group.rmdir()
        pytest.skip(f"cannot make a memory cgroup here ({exc}): the RLIMIT_AS case covers it")
    try:
        yield group
    finally:
        deadline = time.monotonic() + 10
        while True:  # empty once the killed worker is reaped
            try:
                group.rmdir()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize("name", ["pipe", "chunk"])
def test_worker_killed_by_the_oom_killer_is_lost_for_memory(name: str, out_dir: Path) -> None:
    with limited_cgroup() as group:
        before = oom_kills()
        job = clip_job(out_dir, "tests.faulty_clips:hogs_memory", {"at": 5, "cgroup": str(group)}, retries=0)
        with pytest.raises(WorkerLost) as caught:
            get_renderer(name).render(job)
    message = str(caught.value)
    assert "killed by signal 9 (SIGKILL): out of memory, most likely: the kernel's OOM killer ended" in message
    assert "Give the render more memory, or use fewer workers" in message
    if before is not None:
        assert (oom_kills() or 0) > before, "the kernel counted no OOM kill: not a real one"
    assert list(out_dir.iterdir()) == []


@pytest.mark.usefixtures("leaves_nothing")
def test_worker_killed_at_its_address_space_limit_is_lost_for_memory(out_dir: Path) -> None:
    job = clip_job(out_dir, "tests.faulty_clips:hogs_memory", {"at": 5}, retries=0)
    with pytest.raises(WorkerLost) as caught:
        get_renderer("pipe").render(job)
    message = str(caught.value)
    assert "killed by signal 9 (SIGKILL): out of memory, most likely: " in message
    assert "its RLIMIT_AS allows" in message and "its RSS was" in message
    assert list(out_dir.iterdir()) == []


@pytest.mark.usefixtures("leaves_nothing")
def test_a_worker_killed_at_ordinary_memory_use_is_not_blamed_on_memory(out_dir: Path) -> None:
    job = clip_job(out_dir, clip={"fault": "kill_always", "at": 5}, retries=0)
    with pytest.raises(WorkerLost, match=r"killed by signal 9 \(SIGKILL\)") as caught:
        get_renderer("pipe").render(job)
    if oom_kills() is None or "OOM killer" not in str(caught.value):  # another program's OOM kill may coincide
        assert "out of memory" not in str(caught.value)


def test_cgroup_memory_limit_reads_this_process_limit_or_none() -> None:
    limit = cgroup_memory_limit(os.getpid())
    assert limit is None or limit > 0
