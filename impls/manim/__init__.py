"""Manim renderers: the serial reference, scenes in parallel, manim's in-flight encoders, and
animation ranges of one scene in parallel; all built on one ``manim`` subprocess per unit.

One skeleton (:mod:`~impls.manim.render`) runs every one of them; each renderer's module is its
strategy. Shared pieces: :mod:`~impls.manim.cli` (the command, a render's processes,
:func:`~impls.manim.cli.render_scene`), :mod:`~impls.manim.preflight` (checks before any
process starts), :mod:`~impls.manim.count` (frames per animation), :mod:`~impls.manim.pool`
and :mod:`~impls.manim.remote` (scene tasks on threads here or on a remote executor) and
:mod:`~impls.manim.assemble` (stills, held frames, join, one audio track);
:mod:`~impls.manim.discover` lists a script's scenes for ``renderbench manim``.
"""
