"""Benchmark inputs, generated (never downloaded), each an importable clip factory."""

from __future__ import annotations

SLIDESHOW = "harness.workloads.slideshow:make"
FRAME_INDEX = "harness.workloads.frame_index:make"
GRADIENT = "harness.workloads.gradient:make"
EDIT = "harness.workloads.edit:make"
CAPTIONS = "harness.workloads.captions:make"
