"""The scenes a Manim script defines, in definition order, found without running it.

The script is parsed, not imported (user code runs only inside manim's processes, see
:mod:`impls.manim.preflight`). A class is a scene when one of its bases is a scene class of
the same script, or is named like one of manim's scene classes (``Scene``, ``ThreeDScene``,
``MovingCameraScene``, ``ZoomedScene``, ``VectorScene``...: the name ends in ``Scene``),
written plainly or as ``manim.Scene``. manim's own ``-a`` finds the same classes by importing
the script (it renders each into its own file, in alphabetical order); a combined video wants
them in the order the script tells its story.
"""

from __future__ import annotations

import ast
from pathlib import Path

from impls.manim.preflight import parse_script, scene_classes


def _base_name(base: ast.expr) -> str | None:
    if isinstance(base, ast.Name):
        return base.id
    if isinstance(base, ast.Attribute):
        return base.attr
    if isinstance(base, ast.Subscript):  # Generic[...]-style bases
        return _base_name(base.value)
    return None


def scene_names(script: Path) -> list[str]:
    """Names of the scene classes ``script`` defines at its top level, in definition order."""
    classes = scene_classes(parse_script(Path(script)))
    ordered = sorted(classes.values(), key=lambda node: (node.lineno, node.col_offset))
    scenes: set[str] = set()
    changed = True
    while changed:  # a scene may derive from a scene defined further down
        changed = False
        for node in ordered:
            if node.name in scenes:
                continue
            for base in node.bases:
                name = _base_name(base)
                if name is not None and (name in scenes or (name.endswith("Scene") and name not in classes)):
                    scenes.add(node.name)
                    changed = True
                    break
    return [node.name for node in ordered if node.name in scenes]
