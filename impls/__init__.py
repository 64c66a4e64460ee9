"""renderbench renderers: parallel MoviePy and Manim rendering behind one protocol."""

from __future__ import annotations

from impls.api import render
from impls.errors import (
    DiskFull,
    EncoderUnavailable,
    FFmpegError,
    FrameFailed,
    InvalidJob,
    InvalidSource,
    RenderbenchError,
    RenderFailed,
    TaskTimeout,
    ToolNotFound,
    ValidationFailed,
    WorkerLost,
)
from impls.model.protocol import ClipSource, EncoderSpec, ManimSource, Renderer, RenderJob
from impls.model.protocol import RenderResult, Source
from impls.registry import RENDERERS, get_renderer
from impls.runtime.signals import Terminated, exit_on_sigterm

__all__ = [
    "RENDERERS",
    "ClipSource",
    "DiskFull",
    "EncoderSpec",
    "EncoderUnavailable",
    "FFmpegError",
    "FrameFailed",
    "InvalidJob",
    "InvalidSource",
    "ManimSource",
    "RenderFailed",
    "RenderJob",
    "RenderResult",
    "Renderer",
    "RenderbenchError",
    "Source",
    "TaskTimeout",
    "Terminated",
    "ToolNotFound",
    "ValidationFailed",
    "WorkerLost",
    "exit_on_sigterm",
    "get_renderer",
    "render",
]
