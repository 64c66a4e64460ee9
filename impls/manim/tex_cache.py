"""One Tex cache for every manim process of a render, safe for them to fill at the same time.

manim turns each ``Tex``/``MathTex`` string into an SVG by writing a LaTeX document into its
media directory's ``Tex`` folder, named by a hash of the document (``<hash>.tex``), compiling it
(``latex`` → ``<hash>.dvi``) and converting it (``dvisvgm`` → ``<hash>.svg``); a string whose
SVG exists is not compiled again (:mod:`manim.utils.tex_file_writing`). Every manim process of
a render has a media directory of its own, so each one compiled again what another process had
already compiled: the strings two scenes share, every string of a scene split into animation
ranges (each range's process runs the scene's whole ``construct``), and everything the counting
pass of ``manim-ranges`` compiled before the ranges started.

The folder itself cannot be shared as manim uses it: it writes every file in place, so a
process that finds ``<hash>.svg`` may read it while another process's dvisvgm is still writing
it; two processes compiling one string write the same ``.aux``, ``.log`` and ``.dvi`` at once;
and after each compile manim deletes every file of the folder that is not ``.svg`` or ``.tex``,
another process's ``.dvi`` between its latex and its dvisvgm included.

Nor can manim read an SVG from a shared folder: ``SVGMobject`` writes a restyled copy next to
the file it reads (``<name>_.svg``) and deletes it after parsing, so two processes reading one
SVG there would write, read and delete the same copy.

A manim process started through :func:`main` (``python -m impls.manim.tex_cache DIR render
...``, or this file run by path: it imports nothing but the standard library and manim, so any
interpreter with manim can run it) or with :func:`install` compiles each string with manim's own
code in a private folder, then renames the SVG into the shared folder ``DIR``, where a reader
finds the whole file or none. A lock per string (``flock``, which the kernel releases when its
holder dies) makes the other processes that want the same string wait for it instead of
compiling it too; different strings compile side by side. manim then reads a hard link to the
shared SVG (a copy where a link cannot be made) in the process's own ``Tex`` folder, where
manim would have put the SVG itself. The SVG is the one manim makes alone (the same document,
the same commands, the same job name; only the folder differs), so the frames are too. A string that fails to compile raises manim's own error, after manim has logged
LaTeX's message, and leaves its private folder with the log that error names; the next process
that wants the string tries again (and fails the same way).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the file ``path`` (made if missing) while the block runs; the
    kernel releases it if the holder dies. Here rather than in a shared module because this
    file runs by path with only manim importable."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def key(document: str, compiler: Any, output_format: str) -> str:
    """The cache name of a LaTeX ``document`` compiled by ``compiler`` to ``output_format``.

    manim names its files by the document alone; the compiler and format are part of the key
    here, so that two templates that differ only in those never share an SVG.
    """
    text = f"{compiler!r}\n{output_format}\n{document}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _as_config_dir(path: Path) -> str:
    # manim formats directory options with str.format (``{media_dir}/Tex``): braces in a real
    # path must be doubled to stay themselves.
    return str(path).replace("{", "{{").replace("}", "}}")


def _own_copy(svg: Path, folder: Path) -> Path:
    """``svg`` (never changed once in the shared folder) as a file of ``folder``, the process's
    own, where manim may write its restyled copy next to it."""
    mine = folder / svg.name
    if mine.exists():
        return mine
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.link(svg, mine)
    except FileExistsError:
        pass
    except OSError:  # another filesystem, or one without hard links
        fd, partial = tempfile.mkstemp(prefix=f".{svg.stem}-", dir=folder)
        os.close(fd)
        shutil.copyfile(svg, partial)
        os.replace(partial, mine)
    return mine


def install(directory: Path) -> None:
    """Make this process's manim compile Tex strings through the shared folder ``directory``.

    manim's ``tex_to_svg_file`` is replaced in every loaded manim module that holds it
    (``tex_file_writing`` itself, and ``tex_mobject``, which imports it by name). Importing
    ``manim`` here loads them all before they are patched.
    """
    import manim  # loads every module that imports tex_to_svg_file
    from manim import config
    from manim.utils import tex_file_writing

    compile_alone: Callable[..., Path] = tex_file_writing.tex_to_svg_file
    directory = directory.resolve()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def tex_to_svg_file(
        expression: str, environment: str | None = None, tex_template: Any = None
    ) -> Path:
        template = config["tex_template"] if tex_template is None else tex_template
        if environment is not None:
            document = template.get_texcode_for_expression_in_env(expression, environment)
        else:
            document = template.get_texcode_for_expression(expression)
        name = key(document, template.tex_compiler, template.output_format)
        svg = directory / f"{name}.svg"
        if not svg.exists():  # renamed in whole: never a partial file
            compile_shared(name, svg, expression, environment, template)
        return _own_copy(svg, config.get_dir("tex_dir"))

    def compile_shared(
        name: str, svg: Path, expression: str, environment: str | None, template: Any
    ) -> None:
        with locked(directory / f".{name}.lock"):
            if svg.exists():  # compiled by another process while this one waited
                return
            private = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=directory))
            shared_dir = config.tex_dir
            # Where manim's own functions write, compile, convert and clean up; manim is
            # single-threaded, so nothing else reads the setting meanwhile.
            config.tex_dir = _as_config_dir(private)
            try:
                made = compile_alone(expression, environment, template)
            finally:
                config.tex_dir = shared_dir
            os.replace(made, svg)
            shutil.rmtree(private, ignore_errors=True)

    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "")
        if (name == "manim" or name.startswith("manim.")) and getattr(
            module, "tex_to_svg_file", None
        ) is compile_alone:
            setattr(module, "tex_to_svg_file", tex_to_svg_file)


def main(argv: Sequence[str]) -> None:
    """``DIR ARGS...``: run manim's command line ``ARGS`` with the Tex cache in ``DIR``."""
    from manim.__main__ import main as manim_main

    directory, *args = argv
    install(Path(directory))
    manim_main(args=list(args), prog_name="manim")


if __name__ == "__main__":
    main(sys.argv[1:])
