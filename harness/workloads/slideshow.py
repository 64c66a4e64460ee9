"""The seed's workload: large detailed images, Ken Burns zoom, crossfades, an audio track.

Everything is generated (deterministically from ``seed``), nothing is downloaded. The images
are detailed (interference patterns, noise, shapes) so the encoder has real work to do.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from harness.workloads.cache import cache_dir


def cached_image(width: int, height: int, seed: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """:func:`synthetic_image`, generated once per machine and loaded from disk after that.

    Every worker process rebuilds the clip, and generating a full-HD image costs ~1 s; loading
    it back from the cache folder (:mod:`harness.workloads.cache`) costs milliseconds, as
    loading a photo from disk does in a real slideshow.
    """
    folder = cache_dir() / "slideshow"
    path = folder / f"img-v1-{width}x{height}-{seed}.npy"
    try:
        img: np.ndarray[Any, np.dtype[np.uint8]] = np.load(path)
        if img.shape == (height, width, 3) and img.dtype == np.uint8:
            return img
    except (OSError, ValueError):
        pass
    img = synthetic_image(width, height, seed)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Written under a unique name and renamed: workers starting together may race here.
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npy.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, img)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs time
    return img


def synthetic_image(width: int, height: int, seed: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """A detailed RGB image: interfering waves, soft blobs and fine grain."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    x /= width
    y /= height
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(2, 14), rng.uniform(2, 14), rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * (fx * x + fy * y) + phase)
        wave += 0.6 * np.sin(2 * np.pi * rng.uniform(20, 60) * x * y + phase)
        channels.append(wave)
    img = np.stack(channels, axis=-1)
    for _ in range(12):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.03, 0.2)
        blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
        img += blob[..., None] * rng.uniform(-1.5, 1.5, size=3).astype(np.float32)
    img = (img - img.min()) / (img.max() - img.min())
    grain = rng.normal(0, 0.03, size=img.shape).astype(np.float32)
    out: np.ndarray[Any, np.dtype[np.uint8]] = np.clip((img + grain) * 255.0, 0, 255).astype(np.uint8)
    return out


def _tone(duration: float) -> Any:
    from moviepy import AudioClip

    def frame_function(t: Any) -> Any:
        t = np.asarray(t, dtype=np.float64)
        # A slow chord with a beat, so an audio offset or gap is audible and measurable.
        left = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 330 * t)
        right = 0.2 * np.sin(2 * np.pi * 277 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
        return np.stack([left, right], axis=-1)

    return AudioClip(frame_function, duration=duration, fps=44100)


def make(
    width: int = 1920,
    height: int = 1080,
    fps: float = 30,
    duration: float = 10.0,
    images: int = 4,
    crossfade: float = 1.0,
    zoom: float = 0.04,
    audio: bool = True,
    seed: int = 0,
) -> Any:
    """Return the slideshow clip (MoviePy ``CompositeVideoClip`` with a mask, like the seed's)."""
    from moviepy import CompositeVideoClip, ImageClip, concatenate_videoclips, vfx

    if images < 1:
        raise ValueError("images must be >= 1")
    crossfade = min(crossfade, duration / (2 * images)) if images > 1 else 0.0
    per_image = (duration + (images - 1) * crossfade) / images
    slides = []
    for k in range(images):
        # Larger than the frame, as photos are: the zoom crops into real detail.
        img = cached_image(int(width * 1.1) // 2 * 2, int(height * 1.1) // 2 * 2, seed + k)
        rate = zoom / per_image

        def scale(t: float, rate: float = rate) -> float:
            return 1.0 + rate * t

        kb = ImageClip(img).with_duration(per_image).resized(scale).with_position("center")
        slide = CompositeVideoClip([kb], size=(width, height)).with_duration(per_image)
        if k > 0 and crossfade > 0:
            slide = slide.with_effects([vfx.CrossFadeIn(crossfade)])
        slides.append(slide)
    clip = concatenate_videoclips(slides, method="compose", padding=-crossfade)
    clip = clip.with_duration(duration).with_fps(fps)
    if audio:
        clip = clip.with_audio(_tone(duration))
    return clip
