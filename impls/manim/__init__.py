"""Manim renderers: the serial reference, scenes in parallel, manim's in-flight encoders, and
animation ranges of one scene in parallel; all built on one ``manim`` subprocess per unit.

Shared pieces: :mod:`~impls.manim.cli` (the command, processes, :func:`render_scene`),
:mod:`~impls.manim.preflight` (checks before any process starts), :mod:`~impls.manim.count`
(frames per animation), :mod:`~impls.manim.pool` (scheduling, partial success) and
:mod:`~impls.manim.assemble` (held frames, join, one audio track).
"""

from __future__ import annotations
