"""Child processes that do not outlive the process that started them (Linux).

A process whose parent is SIGKILLed is adopted by init and keeps running: a manim scene
renders to its end, an ffmpeg encoding a directory of images encodes every one. Killing a
parent with SIGKILL runs none of its cleanup, so the children must notice by themselves.

:func:`tied` turns a command line into one that runs it through this file, used as a tiny
launcher (``python -I -S lifeline.py``: isolated, no site, standard library only, so it
starts fast):

- by default the launcher asks the kernel to SIGKILL it when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``), checks that the parent is still the one that started it (it
  may have died before the request), then ``exec`` s the command, which keeps the request. The
  process *is* the command from then on: same pid, same exit status.
- ``group=True`` (for a command started in its own session, such as manim) ties the whole
  process group: the launcher stays as the group's leader, runs the command as its child and,
  when its parent dies, SIGKILLs the group, so the command's own children (a scene's
  subprocesses, LaTeX) go too. It exits with the command's status; a command killed by a
  signal is reported as killed by the same signal.

Caveat of ``PR_SET_PDEATHSIG``: the "parent" is the *thread* that started the process. A tied
process must be started by a thread that outlives it, as renderbench's calls do (each starts
its processes and waits for them, or kills them, before it returns).

On systems without ``prctl`` the command is returned unchanged (children are then only
stopped by the render's own cleanup).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

#: <linux/prctl.h>
_PR_SET_PDEATHSIG = 1

SUPPORTED = sys.platform.startswith("linux")


def tied(cmd: Sequence[str], *, group: bool = False) -> list[str]:
    """``cmd`` run through the launcher, tied to this process (see the module docstring)."""
    if not SUPPORTED:
        return list(cmd)
    mode = "--group" if group else "--exec"
    return [sys.executable, "-I", "-S", __file__, mode, str(os.getpid()), "--", *cmd]


# ---------------------------------------------------------------------------------------------
# The launcher (runs as a script: it must not import renderbench, nor anything from site)


def _request_signal_on_parent_death(signum: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_PDEATHSIG): {os.strerror(error)}")


def _exec(cmd: list[str]) -> None:
    try:
        os.execvp(cmd[0], cmd)
    except OSError as exc:
        sys.stderr.write(f"lifeline: cannot run {cmd[0]!r}: {exc}\n")
        os._exit(127)


def _kill_group(signum: int, frame: object) -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _run_group(parent: int, cmd: list[str]) -> None:
    # The parent's death arrives as SIGTERM, whose handler kills the group (this process too).
    # waitpid() is interrupted by the signal, so the handler runs at once, whatever the
    # command is doing.
    signal.signal(signal.SIGTERM, _kill_group)
    _request_signal_on_parent_death(signal.SIGTERM)
    if os.getppid() != parent:
        _kill_group(signal.SIGTERM, None)
    child = os.fork()
    if child == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _exec(cmd)
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        if signum not in {signal.SIGKILL, signal.SIGSTOP}:  # those have no handler to reset
            signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    os._exit(os.waitstatus_to_exitcode(status))


def main(argv: list[str]) -> None:
    if len(argv) < 4 or argv[0] not in {"--exec", "--group"} or argv[2] != "--":
        sys.stderr.write("usage: lifeline.py --exec|--group PARENT_PID -- COMMAND [ARG ...]\n")
        os._exit(2)
    mode, parent, cmd = argv[0], int(argv[1]), argv[3:]
    if mode == "--group":
        _run_group(parent, cmd)
    _request_signal_on_parent_death(signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(128 + signal.SIGKILL)  # the parent is already gone: nobody wants the result
    _exec(cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
