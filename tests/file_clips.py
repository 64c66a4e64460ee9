"""Clip factories that read a video file, for the tests of source files."""

from __future__ import annotations

from typing import Any


def whole(source: str, fps_source: str = "fps") -> Any:
    """The whole file as MoviePy opens it: ``VideoFileClip(source)``, picture and sound."""
    from moviepy import VideoFileClip

    return VideoFileClip(source, fps_source=fps_source)
