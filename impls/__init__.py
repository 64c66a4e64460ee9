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
    UnsendableClip,
    ValidationFailed,
    WorkerLost,
)
from impls.model.protocol import ClipObject, ClipSource, EncoderSpec, ManimSource, Renderer
from impls.model.protocol import RenderJob, RenderResult, Source
from impls.registry import RENDERERS, get_renderer
from impls.runtime.signals import Terminated, exit_on_sigterm
from impls.videofile import write_videofile

__all__ = [
    "RENDERERS",
    "ClipObject",
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
    "UnsendableClip",
    "ValidationFailed",
    "WorkerLost",
    "exit_on_sigterm",
    "get_renderer",
    "render",
    "write_videofile",
]
