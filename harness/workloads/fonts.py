"""Fonts for the workloads' ``TextClip``\\ s: the DejaVu fonts matplotlib ships.

matplotlib is one of the package's dependencies and carries DejaVu Sans in
``matplotlib/mpl-data/fonts/ttf/``, so every installation has the same font files: nothing is
downloaded, no system font is needed, and text renders to the same pixels on every machine.
"""

from __future__ import annotations

from pathlib import Path


def font_path(name: str = "DejaVuSans.ttf") -> Path:
    """The font file ``name`` from matplotlib's bundled fonts (e.g. ``DejaVuSans-Bold.ttf``)."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    if not path.is_file():
        raise FileNotFoundError(f"matplotlib {matplotlib.__version__} ships no font {name} ({path})")
    return path


def regular() -> str:
    return str(font_path("DejaVuSans.ttf"))


def bold() -> str:
    return str(font_path("DejaVuSans-Bold.ttf"))
