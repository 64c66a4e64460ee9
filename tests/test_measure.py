"""TreeMonitor against processes that report their own CPU time (no hard-coded timings)."""

from __future__ import annotations

import subprocess
import sys
import time

from harness.measure import TreeMonitor

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
