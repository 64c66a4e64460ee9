"""Checks every Manim renderer runs before it starts a manim process.

The script is parsed (``ast``), never imported: user code runs only inside manim's own
processes. Each problem gets an error that names it: a missing script or scene, manim absent
from the interpreter, LaTeX needed but not installed, an unreadable audio file.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import keyword
import math
import shutil
import subprocess
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

from impls.errors import FFmpegError, InvalidJob, InvalidSource, ToolNotFound
from impls.ffmpeg.probe import audio_duration
from impls.ffmpeg.tools import check_container, check_ready
from impls.manim import cli
from impls.model.options import Options, boolean, flag, text
from impls.model.protocol import ManimSource, RenderJob
from impls.runtime.executor import worker_count

#: Sample rate of the audio track built over the scenes (AAC frames are 1024 samples: 21.3 ms).
TRACK_RATE = 48000

#: manim's frame rate for each quality, when the job sets none.
_QUALITY_FPS = {"l": 15, "m": 30, "h": 60, "p": 60, "k": 60}

#: Classes whose construction always runs LaTeX.
_LATEX_ALWAYS = frozenset(
    {"Tex", "MathTex", "SingleStringMathTex", "Title", "BulletedList", "MathTable", "Variable"}
)
#: Classes that run LaTeX unless the keyword naming another text class is given.
_LATEX_UNLESS = {
    "DecimalNumber": "mob_class",
    "Integer": "mob_class",
    "Matrix": "element_to_mobject",
    "DecimalMatrix": "element_to_mobject",
    "IntegerMatrix": "element_to_mobject",
    "BraceLabel": "label_constructor",
}


@dataclasses.dataclass(frozen=True)
class ManimOptions(Options):
    """Options every Manim renderer takes (each strategy may add its own)."""

    #: Write the scenes that rendered even if others failed (failures in ``result.failures``).
    partial: bool = flag()
    #: The interpreter whose manim runs the scenes (default: this one; on a remote executor,
    #: each worker's own).
    python: str | None = text()


@dataclasses.dataclass(frozen=True)
class ParallelOptions(ManimOptions):
    """Options of the parallel Manim renderers; ``manim-serial``, the reference, runs plain manim."""

    #: Compile each Tex string once per render, in a cache every manim process of the render
    #: shares (:mod:`impls.manim.tex_cache`); False: each process compiles its own, as manim does.
    tex_cache: bool = boolean(True)


@dataclasses.dataclass(frozen=True)
class ManimPlan:
    """A checked Manim job: everything the renderers need, resolved once."""

    script: Path
    scenes: tuple[str, ...]
    quality: str
    fps: Fraction | None
    padding: Fraction
    audio: dict[str, Path] = dataclasses.field(default_factory=dict)
    audio_seconds: dict[str, Fraction] = dataclasses.field(default_factory=dict)
    python: str = sys.executable
    timeout: float = cli.DEFAULT_TIMEOUT
    workers: int = 1
    encoder_options: tuple[str, ...] = ()
    still_duration: Fraction | None = Fraction(1)

    @property
    def rate(self) -> Fraction:
        """The frame rate manim renders at (``fps``, else the quality's)."""
        return self.fps if self.fps is not None else Fraction(_QUALITY_FPS[self.quality])

    def still_seconds(self, scene: str) -> Fraction | None:
        """How long ``scene`` is shown should it play no animation: its narration's length, else
        ``still_duration`` (``None``: such a scene fails)."""
        if self.still_duration is None:
            return None
        return self.audio_seconds.get(scene, self.still_duration)

    def command(self, media_dir: Path, **more: Any) -> list[str]:
        """One ``manim render`` of every scene of this plan (``more``: see ``manim_command``)."""
        return cli.manim_command(
            self.python, str(self.script), self.scenes, str(media_dir), quality=self.quality,
            fps=self.fps, **more,
        )  # fmt: skip

    def task(
        self, scene: str, dest: Path, work_root: Path, animations: tuple[int, int] | None = None,
        tex_cache: Path | None = None,
    ) -> cli.SceneTask:  # fmt: skip
        """The :class:`~impls.manim.cli.SceneTask` rendering ``scene`` (or a range) of this plan."""
        return cli.SceneTask(
            script=str(self.script), scene=scene, quality=self.quality, fps=self.fps,
            animations=animations, encoder_options=self.encoder_options, timeout=self.timeout,
            python=self.python, dest=str(dest), work_root=str(work_root),
            tex_cache=None if tex_cache is None else str(tex_cache),
        )  # fmt: skip


def check_manim_installed(python: str) -> None:
    """Raise :class:`ToolNotFound` unless ``python`` can import manim (checked without importing)."""
    if python == sys.executable:
        if importlib.util.find_spec("manim") is None:
            raise ToolNotFound("manim", f"it is not installed in {python}; {cli.MANIM_HINT}")
        return
    if shutil.which(python) is None:
        raise ToolNotFound(python, "the interpreter given to run manim does not exist")
    probe = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('manim') else 3)"
    try:
        proc = subprocess.run(
            [python, "-c", probe], stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolNotFound("manim", f"cannot ask {python} whether it has manim: {exc}") from exc
    if proc.returncode != 0:
        raise ToolNotFound("manim", f"it is not installed in {python}; {cli.MANIM_HINT}")


def parse_script(script: Path) -> ast.Module:
    if not script.exists():
        raise InvalidSource(f"Manim script {script} does not exist")
    if not script.is_file():
        raise InvalidSource(f"Manim script {script} is not a file")
    try:
        return ast.parse(script.read_bytes(), filename=str(script))
    except SyntaxError as exc:
        raise InvalidSource(f"Manim script {script} has a syntax error: {exc}") from exc


def _top_level_classes(body: list[ast.stmt]) -> Iterator[ast.ClassDef]:
    # Classes defined at module level, also inside `if`/`try` blocks (manim finds those too).
    for node in body:
        if isinstance(node, ast.ClassDef):
            yield node
        elif isinstance(node, ast.If | ast.Try | ast.With):
            for block in (getattr(node, name, []) for name in ("body", "orelse", "finalbody")):
                yield from _top_level_classes(block)
            for handler in getattr(node, "handlers", []):
                yield from _top_level_classes(handler.body)


def scene_classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    """Classes defined at the script's top level, by name."""
    return {node.name: node for node in _top_level_classes(tree.body)}


def _called_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def latex_users(tree: ast.Module, scenes: tuple[str, ...]) -> list[str]:
    """Names of LaTeX-using classes the given scenes (or shared code) refer to.

    A heuristic over the syntax tree: other scenes' classes are skipped, everything else
    (module code, helper functions, base classes) counts. Indirect uses (numbers on axes)
    are not seen here; manim's failure then names LaTeX through :data:`cli.LATEX_HINT`.
    """
    classes = scene_classes(tree)
    skipped = {id(node) for name, node in classes.items() if name not in scenes}
    # Base classes defined in the script run too.
    wanted = list(scenes)
    while wanted:
        node = classes.get(wanted.pop())
        if node is None:
            continue
        for base in node.bases:
            if isinstance(base, ast.Name) and base.id in classes and id(classes[base.id]) in skipped:
                skipped.discard(id(classes[base.id]))
                wanted.append(base.id)
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if id(node) in skipped:
            return
        if isinstance(node, ast.Call):
            name = _called_name(node)
            keywords = {kw.arg for kw in node.keywords}
            if name in _LATEX_UNLESS and _LATEX_UNLESS[name] not in keywords:
                found.add(name)
        if isinstance(node, ast.Name) and node.id in _LATEX_ALWAYS:
            found.add(node.id)
        if isinstance(node, ast.Attribute) and node.attr in _LATEX_ALWAYS:
            found.add(node.attr)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return sorted(found)


def check_latex(tree: ast.Module, scenes: tuple[str, ...], script: Path) -> None:
    users = latex_users(tree, scenes)
    if not users:
        return
    missing = [tool for tool in ("latex", "dvisvgm") if shutil.which(tool) is None]
    if missing:
        raise ToolNotFound(
            missing[0],
            f"{script.name} uses {', '.join(users)}, which "
            + cli.LATEX_HINT.removeprefix("the script uses LaTeX (Tex/MathTex), which "),
        )


def prepare_manim_job(job: RenderJob, options: ManimOptions) -> ManimPlan:
    """Run every check (no manim process starts) and resolve the job into a :class:`ManimPlan`."""
    source = job.source
    if not isinstance(source, ManimSource):
        raise InvalidJob(f"{type(source).__name__} is not a ManimSource")
    check_ready(job.output, job.encoder)
    encoder_options = cli.encoder_options(job.encoder)
    python = options.python or sys.executable
    check_manim_installed(python)

    for name in source.scenes:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise InvalidSource(f"scene name {name!r} is not a Python class name")
    script = Path(source.script).expanduser().resolve()
    tree = parse_script(script)
    classes = scene_classes(tree)
    absent = [name for name in source.scenes if name not in classes]
    if absent:
        shown = ", ".join(sorted(classes)) or "none"
        raise InvalidSource(
            f"scene(s) {', '.join(absent)} not defined in {script} (classes there: {shown})"
        )
    check_latex(tree, source.scenes, script)

    audio: dict[str, Path] = {}
    seconds: dict[str, Fraction] = {}
    if job.audio:
        for scene, path in source.audio.items():
            path = Path(path).expanduser().resolve()
            if not path.is_file():
                raise InvalidSource(f"audio file {path} for scene {scene} does not exist")
            try:
                seconds[scene] = audio_duration(path)
            except FFmpegError as exc:
                raise InvalidSource(f"audio file {path} for scene {scene} is unreadable: {exc}") from exc
            audio[scene] = path
    check_container(job.encoder, job.output, audio_rate=TRACK_RATE if audio else None)

    fps = job.fps if job.fps is not None else source.fps
    if not math.isfinite(source.padding):
        raise InvalidSource(f"padding must be finite, got {source.padding}")
    padding = Fraction(source.padding).limit_denominator(1_000_000)
    still = source.still_duration
    return ManimPlan(
        script=script, scenes=source.scenes, quality=source.quality, fps=fps, padding=padding,
        audio=audio, audio_seconds=seconds, python=python, workers=worker_count(job.workers),
        timeout=job.timeout if job.timeout is not None else cli.DEFAULT_TIMEOUT,
        encoder_options=encoder_options,
        still_duration=None if still is None else Fraction(still).limit_denominator(1_000_000),
    )  # fmt: skip
