"""TreeMonitor against processes that report their own CPU time (no hard-coded timings), and
its split of the CPU by role: the rules (pure), the ledger (injected numbers), real processes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Hashable
from pathlib import Path

import pytest

from harness.measure import (
    DECODE,
    ENCODE,
    FRAME,
    OTHER,
    CpuLedger,
    ProcSample,
    TreeMonitor,
    process_role,
)
from harness.workloads import FRAME_INDEX
from impls import ClipSource, EncoderSpec, RenderJob, get_renderer
from impls.ffmpeg.tools import ffmpeg_binary
from tests.renders import TINY_FRAME_INDEX

# Burns ``seconds`` of CPU, prints its own CPU time (startup included), then sleeps ``linger``.
BURN = """
import sys, time
seconds, linger = float(sys.argv[1]), float(sys.argv[2])
start = time.process_time()
while time.process_time() - start < seconds:
    pass
# One write per line: two burners share the shell's stdout, and print() writes the value
# and its newline separately, which can interleave.
sys.stdout.write(f"{time.process_time()}\\n"); sys.stdout.flush()
time.sleep(linger)
"""


def burner(seconds: float, linger: float = 0.0) -> list[str]:
    return [sys.executable, "-c", BURN, str(seconds), str(linger)]


def test_children_and_grandchildren_that_exit_during_the_run_are_counted() -> None:
    script = f"{subprocess.list2cmdline(burner(0.3))} & {subprocess.list2cmdline(burner(0.3))} & wait"
    with TreeMonitor(interval=0.05) as monitor:
        direct = subprocess.run(burner(0.4), capture_output=True, text=True, check=True)
        # Grandchildren reaped by a shell that we reap: counted through its rusage.
        nested = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    usage = monitor.usage
    assert usage is not None
    reported = float(direct.stdout) + sum(float(x) for x in nested.stdout.split())
    assert reported * 0.95 <= usage.cpu_seconds <= reported + 0.5
    assert usage.cpu_util == usage.cpu_seconds / (usage.wall * usage.cores)


def test_descendants_alive_at_the_end_are_counted_and_earlier_cpu_is_not() -> None:
    procs = [subprocess.Popen(burner(0.4, linger=30), stdout=subprocess.PIPE, text=True)]
    try:
        assert procs[0].stdout is not None
        procs[0].stdout.readline()  # its CPU was spent before the measurement
        with TreeMonitor() as monitor:
            procs.append(subprocess.Popen(burner(0.4, linger=30), stdout=subprocess.PIPE, text=True))
            assert procs[1].stdout is not None
            reported = float(procs[1].stdout.readline())
        usage = monitor.usage
        assert usage is not None
        assert reported * 0.95 <= usage.cpu_seconds <= reported + 0.3
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def test_peak_rss_sums_the_tree() -> None:
    hold = "import time; block = bytearray(200 * 2**20); block[::4096] = b'x' * len(block[::4096]); time.sleep(1.0)"
    with TreeMonitor(interval=0.05) as idle:
        time.sleep(0.3)
    with TreeMonitor(interval=0.05) as busy:
        subprocess.run([sys.executable, "-c", hold], check=True)
    assert idle.usage is not None and busy.usage is not None
    assert busy.usage.peak_rss - idle.usage.peak_rss > 180 * 2**20
    assert busy.usage.samples >= 3


def test_the_monitor_costs_under_two_percent_of_wall() -> None:
    with TreeMonitor() as monitor:
        procs = [subprocess.Popen(burner(0.5), stdout=subprocess.DEVNULL) for _ in range(3)]
        for proc in procs:
            proc.wait()
    usage = monitor.usage
    assert usage is not None
    assert usage.samples >= 2
    assert usage.overhead_fraction < 0.02, usage


# ---------------------------------------------------------------------------------------------
# CPU by role


def test_process_roles() -> None:
    reader = [
        "/usr/bin/ffmpeg", "-ss", "1.5", "-i", "clip.mp4", "-ss", "0", "-loglevel", "error",
        "-f", "image2pipe", "-vf", "scale=640:360", "-sws_flags", "bicubic", "-pix_fmt", "rgb24",
        "-vcodec", "rawvideo", "-",
    ]  # fmt: skip
    audio_reader = ["ffmpeg", "-i", "voice.wav", "-vn", "-acodec", "pcm_s16le", "-ar", "44100", "-ac", "2", "-"]
    encoder = ["ffmpeg", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "64x48", "-i", "-", "-c:v", "libx264", "out.mp4"]
    assert process_role(reader) == DECODE
    assert process_role(audio_reader) == DECODE
    assert process_role(["ffmpeg-linux-x86_64-v7.0.2", "-hide_banner", "-i", "clip.mp4"]) == DECODE  # MoviePy's probe
    assert process_role(["ffmpeg", "-hide_banner", "-i", "clip.mp4", "-f", "null", "-"]) == DECODE  # decode_file
    assert process_role(encoder) == ENCODE
    assert process_role(["ffmpeg", "-f", "concat", "-safe", "0", "-i", "list.txt", "-c", "copy", "v.mp4"]) == ENCODE
    assert process_role(["ffmpeg", "-i", "v.mp4", "-i", "a.m4a", "-c", "copy", "out.mp4"]) == ENCODE
    assert process_role(["ffmpeg", "-i", "frames/%06d.ppm", "-c:v", "libx264", "v.mp4"]) == ENCODE
    # An encoder checked on a generated input, its output thrown away: still the encoder's work.
    assert process_role(["ffmpeg", "-f", "lavfi", "-i", "color=c=gray", "-c:v", "libx264", "-f", "null", "-"]) == ENCODE
    assert process_role(["ffmpeg", "-i", "clip.mp4", "-c:v", "libx264", "-f", "mp4", "-"]) == ENCODE
    assert process_role(["/usr/bin/ffprobe", "-count_packets", "out.mp4"]) == ENCODE
    assert process_role(["/work/.venv/bin/python3.11", "-c", "from multiprocessing.forkserver import main"]) == FRAME
    assert process_role(["ffmpeg"]) == OTHER  # MoviePy looking for it
    assert process_role(["ffplay"]) == OTHER
    assert process_role(["sh", "-c", "true"]) == OTHER
    assert process_role([]) == OTHER


def _sample(**procs: tuple[str, str | None, float, float]) -> dict[Hashable, ProcSample]:
    return {key: ProcSample(role, parent, own, children) for key, (role, parent, own, children) in procs.items()}


def test_ledger_gives_a_child_its_own_time_and_its_last_moments() -> None:
    ledger = CpuLedger()
    ledger.observe(_sample(me=(FRAME, None, 10.0, 5.0)))  # the start: nothing before counts
    ledger.observe(_sample(me=(FRAME, None, 11.0, 5.0), enc=(ENCODE, "me", 2.0, 0.0)))
    ledger.observe(_sample(me=(FRAME, None, 11.5, 5.0), enc=(ENCODE, "me", 3.0, 0.0)))
    # The encoder ended after using 3.4 s in all; its parent reaped it.
    ledger.observe(_sample(me=(FRAME, None, 12.0, 8.4)))
    assert ledger.seconds == pytest.approx({FRAME: 2.0, DECODE: 0.0, ENCODE: 3.4, OTHER: 0.0})
    assert ledger.escaped == 0.0


def test_ledger_puts_children_no_sample_saw_under_other() -> None:
    ledger = CpuLedger()
    ledger.observe(_sample(me=(FRAME, None, 0.0, 0.0)))
    ledger.observe(_sample(me=(FRAME, None, 1.0, 0.3)))  # a child came and went between samples
    assert ledger.seconds == pytest.approx({FRAME: 1.0, DECODE: 0.0, ENCODE: 0.0, OTHER: 0.3})


def test_ledger_counts_a_process_alive_at_the_start_from_the_start() -> None:
    ledger = CpuLedger()
    ledger.observe(_sample(me=(FRAME, None, 0.0, 0.0), old=(DECODE, "me", 7.0, 1.0)))
    ledger.observe(_sample(me=(FRAME, None, 0.0, 0.0), old=(DECODE, "me", 7.5, 1.0)))
    ledger.observe(_sample(me=(FRAME, None, 0.0, 8.75)))  # reaped: 8.75 in all, 8.5 seen
    assert ledger.seconds == pytest.approx({FRAME: 0.0, DECODE: 0.75, ENCODE: 0.0, OTHER: 0.0})


def test_ledger_when_a_parent_and_its_child_end_together() -> None:
    """The worker waited for its encoder, then ended: the pool's counter holds both; each
    process's last moments go to its own role."""
    ledger = CpuLedger()
    ledger.observe(_sample(pool=(FRAME, None, 0.0, 0.0)))
    ledger.observe(_sample(pool=(FRAME, None, 0.0, 0.0), worker=(FRAME, "pool", 4.0, 0.0), enc=(ENCODE, "worker", 2.0, 0.0)))
    # The worker used 4.5 s and reaped its encoder's 2.5: 1 s that no sample saw, shared.
    ledger.observe(_sample(pool=(FRAME, None, 0.0, 4.5 + 2.5)))
    assert ledger.seconds == pytest.approx({FRAME: 4.5, DECODE: 0.0, ENCODE: 2.5, OTHER: 0.0})


def test_ledger_when_the_parents_counter_lags_its_childs_end() -> None:
    ledger = CpuLedger()
    ledger.observe(_sample(me=(FRAME, None, 0.0, 0.0)))
    ledger.observe(_sample(me=(FRAME, None, 0.0, 0.0), dec=(DECODE, "me", 1.0, 0.0)))
    ledger.observe(_sample(me=(FRAME, None, 0.0, 0.0)))  # gone, not reaped yet when read
    ledger.observe(_sample(me=(FRAME, None, 0.0, 1.2)))
    assert ledger.seconds == pytest.approx({FRAME: 0.0, DECODE: 1.2, ENCODE: 0.0, OTHER: 0.0})


def test_ledger_follows_a_process_adopted_outside_the_tree() -> None:
    ledger = CpuLedger()
    ledger.observe(_sample(me=(FRAME, None, 0.0, 0.0)))
    ledger.observe(_sample(me=(FRAME, None, 0.0, 0.0), worker=(FRAME, "me", 1.0, 0.0), dec=(DECODE, "worker", 0.5, 0.0)))
    # The worker ended without waiting for its reader; init adopted the reader.
    ledger.observe({
        "me": ProcSample(FRAME, None, 0.0, 1.0),
        "dec": ProcSample(DECODE, None, 0.75, 0.0, outside=True),
    })  # fmt: skip
    ledger.observe(_sample(me=(FRAME, None, 0.0, 1.0)))  # it ended: init reaped it
    assert ledger.seconds == pytest.approx({FRAME: 1.0, DECODE: 0.75, ENCODE: 0.0, OTHER: 0.0})
    assert ledger.escaped == pytest.approx(0.75)  # what the tree's counters cannot hold


def _media(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    subprocess.run(
        [ffmpeg_binary(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=s=640x360:r=30:d=6",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path


def test_cpu_by_role_of_real_processes_adds_up_to_the_total(tmp_path: Path) -> None:
    """A Python burner, an ffmpeg reader (decoding to its stdout, as MoviePy's do) and an
    encoder, run one after another: each role gets its process's time, and the roles add up
    to the tree's total."""
    media = _media(tmp_path)
    ffmpeg = ffmpeg_binary()
    # The reader loops the file so that it lives for several of the sampler's intervals, which
    # stretch when the machine is loaded (a process no sample saw has no role).
    reader = [ffmpeg, "-loglevel", "error", "-stream_loop", "7", "-i", str(media), "-f", "rawvideo", "-pix_fmt", "rgb24", "-vcodec", "rawvideo", "-"]
    encoder = [ffmpeg, "-loglevel", "error", "-y", "-stream_loop", "7", "-i", str(media), "-c:v", "libx264", "-preset", "medium", str(tmp_path / "out.mp4")]
    with TreeMonitor() as monitor:
        burned = float(subprocess.run(burner(0.5), capture_output=True, text=True, check=True).stdout)
        subprocess.run(reader, stdout=subprocess.DEVNULL, check=True)
        subprocess.run(encoder, check=True)
    usage = monitor.usage
    assert usage is not None and set(usage.cpu_by_role) == {FRAME, DECODE, ENCODE, OTHER}
    split = usage.cpu_by_role
    assert sum(split.values()) == pytest.approx(usage.cpu_seconds, abs=0.05)
    assert burned * 0.95 <= split[FRAME] <= burned + 0.3
    assert split[DECODE] > 0.05 and split[ENCODE] > split[DECODE]
    assert split[OTHER] < 0.05


def test_a_process_adopted_outside_the_tree_is_counted(tmp_path: Path) -> None:
    """A child that starts a burner and exits without waiting for it: init adopts the burner;
    the sampler, which saw it in the tree, follows it, and the total and the split hold it."""
    orphaning = f"import subprocess, time; subprocess.Popen({burner(0.6, linger=0.2)!r}); time.sleep(0.3)"
    with TreeMonitor() as monitor:
        subprocess.run([sys.executable, "-c", orphaning], check=True)
        time.sleep(1.5)
    usage = monitor.usage
    assert usage is not None
    assert usage.cpu_seconds >= 0.6
    assert sum(usage.cpu_by_role.values()) == pytest.approx(usage.cpu_seconds, abs=0.05)
    assert usage.cpu_by_role[FRAME] >= 0.6 * 0.95


def test_cpu_by_role_of_a_render_adds_up_to_the_total(tmp_path: Path) -> None:
    source = ClipSource(FRAME_INDEX, dict(TINY_FRAME_INDEX))
    job = RenderJob(source=source, output=tmp_path / "out.mp4", workers=2, encoder=EncoderSpec(preset="ultrafast"))
    with TreeMonitor() as monitor:
        get_renderer("pipe").render(job)
    usage = monitor.usage
    assert usage is not None
    split = usage.cpu_by_role
    assert sum(split.values()) == pytest.approx(usage.cpu_seconds, abs=0.1)
    assert split[FRAME] > 0 and split[ENCODE] > 0
