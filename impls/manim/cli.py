"""Running the ``manim`` command: one scene, in its own process group and its own media dir.

:func:`render_scene` is the unit every Manim renderer schedules. It is a plain module-level
function of a frozen, picklable :class:`SceneTask`, so the same call can run on a thread here or
be shipped to another process or machine: it renders into a private temporary directory and
either moves the video to ``task.dest`` or returns its bytes.

manim runs as ``<python> -m manim`` (the current interpreter by default), never through a
shell, always through a render's :class:`ManimProcesses`. Each process starts a new session
(``start_new_session=True``): on a timeout, an error or a cancelled render the whole process
group is killed, so no manim child survives. A new session also keeps a terminal's Ctrl-C away
from manim: the render (this process) gets it and kills the groups. Should this process die
without cleaning up (SIGKILL), the group is killed too: manim is started through
:func:`impls.runtime.lifeline.tied` (``group=True``), whose launcher leads the group and kills
it when its parent dies.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from impls.errors import InvalidJob, RenderFailed, SceneFailed, SceneTimeout, ToolNotFound
from impls.ffmpeg.files import disk_full, writing
from impls.model.protocol import EncoderSpec
from impls.runtime import lifeline

#: Per-scene timeout when the job sets none (seconds).
DEFAULT_TIMEOUT = 600.0

LATEX_HINT = (
    "the script uses LaTeX (Tex/MathTex), which needs latex and dvisvgm on PATH; "
    "install them, e.g. apt-get install --no-install-recommends texlive-latex-base dvisvgm "
    "texlive-latex-extra (manim's default template loads standalone.cls, from texlive-latex-extra)"
)

MANIM_HINT = (
    "install it into this interpreter (pip install manim; on Linux it compiles against "
    "cairo and pango: apt-get install libcairo2-dev libpango1.0-dev pkg-config)"
)

#: Things manim prints when LaTeX is missing, so a scene failure can say what to install.
_LATEX_MISSING = ("No such file or directory: 'latex'", "No such file or directory: 'dvisvgm'")


@dataclass(frozen=True)
class SceneTask:
    """One manim invocation for one scene (optionally a range of its animations).

    ``animations`` is manim's ``-n start,end``: 0-based and both ends included. ``dest`` is
    where the video is moved (with the suffix of what manim wrote, see :func:`find_output`);
    ``None`` returns its bytes instead (no shared filesystem needed). ``tex_cache``: a folder
    every manim process of the render compiles its Tex strings through
    (:mod:`impls.manim.tex_cache`), on the machine that runs the task.
    """

    script: str
    scene: str
    quality: str = "l"
    fps: Fraction | None = None
    animations: tuple[int, int] | None = None
    encoder_options: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    python: str = sys.executable
    dest: str | None = None
    work_root: str | None = None
    tex_cache: str | None = None  # the render's shared Tex cache (None: manim's own, per process)

    @property
    def label(self) -> str:
        """The scene's name, with its animation range when it renders only a part."""
        if self.animations is None:
            return self.scene
        return f"{self.scene}[{self.animations[0]}..{self.animations[1]}]"


@dataclass(frozen=True)
class SceneVideo:
    """A rendered scene: its video at ``path`` (when the task had a ``dest``) or as ``data``;
    ``suffix`` is the file's (``.png``: manim's picture of a scene that plays no animation)."""

    scene: str
    animations: tuple[int, int] | None
    path: str | None
    data: bytes | None
    seconds: float
    suffix: str


@dataclass(frozen=True)
class ManimRun:
    """What one finished manim process left: exit status, output, and whether it timed out."""

    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float


# ---------------------------------------------------------------------------------------------
# Command line

#: ``manim render`` itself.
MANIM_RENDER = ("-m", "manim", "render")

_TEX_CACHE_FILE = str(Path(__file__).with_name("tex_cache.py"))
# The file is run by path, not as ``-m impls.manim.tex_cache``: it needs only manim, so an
# interpreter given as ``options["python"]`` need not have renderbench installed.
_RUN_FILE = "import runpy, sys; runpy.run_path(sys.argv.pop(1), run_name='__main__')"


def render_entry(tex_cache: str | None) -> tuple[str, ...]:
    """The ``entry`` of :func:`manim_command`: ``manim render``, through the Tex cache in the
    folder ``tex_cache`` when one is given (:mod:`impls.manim.tex_cache`)."""
    if tex_cache is None:
        return MANIM_RENDER
    return ("-c", _RUN_FILE, _TEX_CACHE_FILE, tex_cache, "render")


def encoder_options(spec: EncoderSpec) -> tuple[str, ...]:
    """manim's own options that make its encoder use ``spec`` (so added frames can match it).

    ``spec.extra`` must be ``-name value`` pairs; each becomes ``--encoder-option name=value``.
    """
    options: dict[str, str] = {}
    if spec.crf is not None:
        options["crf"] = str(spec.crf)
    if spec.preset is not None:
        options["preset"] = spec.preset
    if spec.bitrate is not None:
        options["b"] = spec.bitrate
    if spec.threads is not None:
        options["threads"] = str(spec.threads)
    extra = list(spec.extra)
    if len(extra) % 2 or any(not name.startswith("-") for name in extra[::2]):
        raise InvalidJob(
            f"encoder extra arguments {spec.extra!r} cannot be passed to manim: "
            "give them as '-name', 'value' pairs (each becomes --encoder-option name=value)"
        )
    for name, value in zip(extra[::2], extra[1::2], strict=True):
        options[name.lstrip("-")] = value
    args = ["--video-codec", spec.codec, "--pixel-format", spec.pix_fmt]
    for name, value in options.items():
        args += ["--encoder-option", f"{name}={value}"]
    return tuple(args)


def manim_command(
    python: str,
    script: str,
    scenes: Sequence[str],
    media_dir: str,
    *,
    quality: str,
    fps: Fraction | None = None,
    animations: tuple[int, int] | None = None,
    extra: Sequence[str] = (),
    output_format: str = "auto",
    entry: Sequence[str] = MANIM_RENDER,
) -> list[str]:
    """The argument list of one ``manim render`` (``entry`` lets a wrapper stand in for it).

    ``auto``: a scene's movie (MP4), or for a scene that plays no animation the picture of its
    last frame (``mp4`` would write nothing for it).
    """
    cmd = [
        python, *entry, script, *scenes,
        f"-q{quality}", "--media_dir", media_dir, "--format", output_format,
        # Repeat runs would otherwise reuse cached partial movies and measure nothing.
        "--disable_caching",
        # --silent: no version check against PyPI at exit (a network call per process).
        "--silent", "--progress_bar", "none", "-v", "WARNING",
    ]  # fmt: skip
    if fps is not None:
        # manim snaps a float close to an NTSC rate back to its exact /1001 value.
        cmd += ["--fps", repr(float(fps))]
    if animations is not None:
        cmd += ["-n", f"{animations[0]},{animations[1]}"]
    cmd += list(extra)
    return cmd


# ---------------------------------------------------------------------------------------------
# Processes


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # The group id is the leader's pid, valid while the leader is not reaped: callers kill
    # before they wait.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _drain(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    # After the kill the pipes close at once, unless something that left the group (its own
    # session) still holds them: then stop reading rather than wait for it.
    try:
        return proc.communicate(timeout=30)
    except subprocess.TimeoutExpired as exc:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()
        return exc.stdout or b"", exc.stderr or b""


class ManimProcesses:
    """The manim processes of one render: started one by one, killed all at once.

    After :meth:`cancel` no further process starts. Each render has its own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[subprocess.Popen[bytes]] = set()
        self._cancelled = False

    @property
    def cancelled(self) -> bool:
        with self._lock:
            return self._cancelled

    def cancel(self) -> int:
        """Kill every running manim process of the render; returns how many were running."""
        with self._lock:
            self._cancelled = True
            procs = [proc for proc in self._live if proc.poll() is None]
        for proc in procs:
            _kill_group(proc)
        return len(procs)

    def run(self, cmd: Sequence[str], *, cwd: str, timeout: float) -> ManimRun:
        """Run ``cmd`` in a new session; kill its whole group on timeout or on any exception."""
        env = dict(os.environ)
        # manim prints through rich, which wraps at 80 columns when not on a terminal; wider
        # lines keep tracebacks readable in error messages.
        env.setdefault("COLUMNS", "160")
        started = time.perf_counter()
        # Checked and registered under the lock: a render being cancelled never starts one more.
        with self._lock:
            if self._cancelled:
                raise RenderFailed("the render was cancelled; no further manim process is started")
            try:
                # stdin: manim prompts for a scene when a name is unknown.
                proc = subprocess.Popen(
                    lifeline.tied(cmd, group=True), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                )  # fmt: skip
            except FileNotFoundError as exc:
                raise ToolNotFound(cmd[0], f"cannot start {cmd[0]!r}: {exc}") from exc
            self._live.add(proc)
        timed_out = False
        try:
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
                out, err = _drain(proc)
        except BaseException:
            _kill_group(proc)
            with contextlib.suppress(Exception):
                proc.communicate(timeout=10)
            raise
        finally:
            with self._lock:
                self._live.discard(proc)
        text = out.decode(errors="replace"), err.decode(errors="replace")
        return ManimRun(proc.returncode, *text, timed_out, time.perf_counter() - started)


def failure(scene: str, run: ManimRun, timeout: float) -> SceneFailed:
    """The error for a manim process that timed out or exited with an error."""
    if run.timed_out:
        return SceneTimeout(
            scene, f"did not finish within its timeout of {timeout:g} s; its process group was killed",
            returncode=run.returncode, stderr=run.stderr, stdout=run.stdout,
        )  # fmt: skip
    if run.returncode < 0:
        reason = f"manim was killed by signal {-run.returncode}"
    else:
        reason = f"manim exited with status {run.returncode}"
    text = run.stderr + run.stdout
    hint = LATEX_HINT if any(marker in text for marker in _LATEX_MISSING) else ""
    return SceneFailed(
        scene, reason, returncode=run.returncode, stderr=run.stderr, stdout=run.stdout, hint=hint
    )


def check_space(run: ManimRun, media_dir: Path, what: str) -> None:
    """Raise :class:`~impls.errors.DiskFull` when manim failed for lack of room in ``media_dir``
    (its partial movies, Tex files and images): the disk, not the scene, is to blame, and no
    retry nor other scene can succeed there."""
    if run.returncode == 0 and not run.timed_out:
        return
    full = disk_full(media_dir, what, text=run.stderr + "\n" + run.stdout)
    if full is not None:
        raise full


def find_output(media_dir: Path, scene: str) -> Path | None:
    """The scene's final movie under ``media_dir`` (manim nests it by script and quality), or
    for a scene that plays no animation the picture manim saved of its last frame
    (``images/<script>/<Scene>_ManimCE_v<version>.png``)."""
    for path in sorted((media_dir / "videos").glob(f"**/{scene}.mp4")):
        if "partial_movie_files" not in path.parts:
            return path
    for pattern in (f"**/{scene}_ManimCE_v*.png", f"**/{scene}.png"):
        found = sorted((media_dir / "images").glob(pattern))
        if found:
            return found[0]
    return None


def render_scene(task: SceneTask, processes: ManimProcesses) -> SceneVideo:
    """Render one scene (or animation range) in a private media dir; raise :class:`SceneFailed`."""
    script = Path(task.script)
    with writing(task.work_root or tempfile.gettempdir(), f"making a media directory for scene {task.label}"):
        work = Path(tempfile.mkdtemp(prefix="renderbench-manim-", dir=task.work_root))
    try:
        media = work / "media"
        cmd = manim_command(
            task.python, str(script), [task.scene], str(media), quality=task.quality, fps=task.fps,
            animations=task.animations, extra=task.encoder_options,
            entry=render_entry(task.tex_cache),
        )  # fmt: skip
        run = processes.run(cmd, cwd=str(script.parent), timeout=task.timeout)
        check_space(run, media, f"manim rendering scene {task.label}")
        if run.timed_out or run.returncode != 0:
            raise failure(task.label, run, task.timeout)
        video = find_output(media, task.scene)
        if video is None:
            raise SceneFailed(
                task.label, "manim wrote neither a video nor a picture",
                returncode=run.returncode, stderr=run.stderr, stdout=run.stdout,
            )  # fmt: skip
        if task.dest is None:
            data = video.read_bytes()
            return SceneVideo(task.scene, task.animations, None, data, run.seconds, video.suffix)
        dest = str(Path(task.dest).with_suffix(video.suffix))
        with writing(dest, f"moving the video of scene {task.label} out of its media directory"):
            shutil.move(str(video), dest)
        return SceneVideo(task.scene, task.animations, dest, None, run.seconds, video.suffix)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@functools.cache
def render_help(python: str) -> str:
    """``manim render --help`` of ``python``'s manim (cached: it costs a process start)."""
    try:
        proc = subprocess.run(
            [python, "-m", "manim", "render", "--help"], stdin=subprocess.DEVNULL,
            capture_output=True, text=True, errors="replace", timeout=120, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout if proc.returncode == 0 else ""


def has_option(python: str, option: str) -> bool:
    """Whether ``python``'s ``manim render`` accepts ``option`` (e.g. --max-inflight-encoders)."""
    return any(word.strip(",") == option for word in render_help(python).split())
