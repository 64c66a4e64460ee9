"""Small clips of the kinds typical edits make, for comparing the fast path with MoviePy.

Sizes are odd on purpose (width and height must not be swapped, centring rounds), layers sit
partly and wholly off the frame, masks are smaller and larger than their clips.
``divergent`` is a clip whose frames MoviePy computes as a function of ``t`` but that breaks an
assumption of the fast path (an ImageClip's image rewritten during the render).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from moviepy import (
    ColorClip,
    CompositeVideoClip,
    ImageClip,
    TextClip,
    VideoClip,
    VideoFileClip,
    concatenate_videoclips,
    vfx,
)

from harness.workloads.slideshow import synthetic_image

W, H = 97, 61
FPS = 10


def font() -> str:
    import matplotlib

    return os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data/fonts/ttf/DejaVuSans.ttf")


def image(width: int, height: int, seed: int) -> ImageClip:
    return ImageClip(synthetic_image(width, height, seed)).with_duration(2.0)


def alpha(width: int, height: int, seed: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A mask with fully opaque, fully transparent and partly transparent parts."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 1, size=(height, width))
    values[: height // 3] = 1.0
    values[-height // 4 :] = 0.0
    return values


def moving(width: int, height: int, seed: int) -> VideoClip:
    """A clip whose frames change with t (not an ImageClip)."""
    base = synthetic_image(width, height, seed).astype(np.int64)

    def frame_function(t: float) -> np.ndarray[Any, np.dtype[np.uint8]]:
        return ((base + int(40 * t)) % 256).astype(np.uint8)

    return VideoClip(frame_function, duration=2.0)


def background() -> ImageClip:
    return image(W, H, 0)


def layers_positioned() -> Any:
    clips = [
        image(33, 21, 1).with_position((-7, -5)),  # off the top left
        image(30, 20, 2).with_position((W - 10, H - 6)),  # off the bottom right
        image(20, 20, 3).with_position((W + 50, 0)),  # off the frame entirely
        image(25, 15, 4).with_position("center"),
        moving(21, 13, 5).with_position(lambda t: (int(40 * t) - 10, 5)),
        image(W + 20, 11, 6).with_position((-10, 30)),  # wider than the frame
    ]
    return CompositeVideoClip(clips, size=(W, H)).with_duration(1.0)


def opaque_background() -> Any:
    clips = [image(33, 21, 1).with_position((5, 7)), moving(21, 13, 2).with_position((-3, 40))]
    return CompositeVideoClip(clips, size=(W, H), bg_color=(20, 40, 60)).with_duration(1.0)


def masks() -> Any:
    masked = image(33, 21, 1).with_mask(ImageClip(alpha(33, 21, 7), is_mask=True))
    small_mask = image(30, 20, 2).with_mask(ImageClip(alpha(20, 10, 8), is_mask=True))
    large_mask = image(20, 15, 3).with_mask(ImageClip(alpha(40, 30, 9), is_mask=True))
    rgba = np.dstack([synthetic_image(25, 17, 4), (alpha(25, 17, 10) * 255).astype(np.uint8)])
    clips = [
        background(),
        masked.with_position((-4, 3)),
        small_mask.with_position((50, 40)),
        large_mask.with_position((70, -5)),
        ImageClip(rgba).with_duration(2.0).with_position((20, 20)),
    ]
    return CompositeVideoClip(clips, size=(W, H)).with_duration(1.0)


def opacity() -> Any:
    clips = [
        background(),
        image(40, 30, 1).with_opacity(0.5).with_position((10, 5)),
        moving(W, H, 2).with_opacity(0.3),
        image(W, H, 3).with_opacity(0.0),
        image(W, H, 4).with_opacity(1.0).with_position((0, 30)),
    ]
    return CompositeVideoClip(clips).with_duration(1.0)


def crossfades() -> Any:
    a = image(W, H, 1).with_duration(1.0)
    b = moving(W, H, 2).with_duration(1.0).with_effects([vfx.CrossFadeIn(0.5)])
    c = image(W, H, 3).with_duration(1.0).with_effects([vfx.CrossFadeIn(0.5), vfx.CrossFadeOut(0.4)])
    return concatenate_videoclips([a, b, c], method="compose", padding=-0.5)


def fades() -> Any:
    a = moving(W, H, 1).with_duration(1.0).with_effects([vfx.FadeIn(0.5), vfx.FadeOut(0.3)])
    b = image(W, H, 2).with_duration(1.0).with_effects([vfx.FadeIn(0.4, initial_color=[255, 0, 0])])
    return concatenate_videoclips([a, b])


def resized() -> Any:
    zoom = image(60, 40, 1).resized(lambda t: 1 + 0.7 * t).with_position("center")
    fixed = moving(50, 30, 2).resized((31, 17)).with_position((3, 3))
    scaled = moving(50, 30, 3).with_mask(ImageClip(alpha(50, 30, 11), is_mask=True))
    shrink = image(30, 20, 4).with_mask(ImageClip(alpha(30, 20, 12), is_mask=True))
    clips = [
        background(),
        zoom,
        fixed,
        scaled.resized(0.5).with_position((60, 30)),
        shrink.resized(lambda t: 0.5 + t).with_position((5, 30)),
        ColorClip((10, 10), (200, 10, 10)).with_duration(2.0).resized(lambda t: 2 + t),
    ]
    return CompositeVideoClip(clips, size=(W, H)).with_duration(1.0)


def chain() -> Any:
    a = image(33, 21, 1).with_duration(0.5)
    b = image(40, 30, 2).with_mask(ImageClip(alpha(40, 30, 3), is_mask=True)).with_duration(0.5)
    c = moving(33, 21, 4).with_duration(0.5)
    return concatenate_videoclips([a, b, c], method="chain")


def compose() -> Any:
    a = image(33, 21, 1).with_duration(0.5)
    b = moving(40, 30, 2).with_duration(0.5)
    c = image(W, H, 3).with_duration(0.5).with_effects([vfx.CrossFadeIn(0.3)])
    return concatenate_videoclips([a, b, c], method="compose", padding=-0.2)


def nested() -> Any:
    inner = CompositeVideoClip(
        [image(50, 40, 1), image(20, 20, 2).with_position((40, 30))], size=(60, 45)
    ).with_duration(1.0)
    clips = [
        background(),
        inner.with_position((-15, 25)),
        inner.with_effects([vfx.CrossFadeIn(0.6)]).with_position((60, -10)),
        inner.with_mask(ImageClip(alpha(60, 45, 3), is_mask=True)).with_position((30, 5)),
    ]
    return CompositeVideoClip(clips, size=(W, H)).with_duration(1.0)


def rgba_frames() -> Any:
    base = np.dstack([synthetic_image(30, 20, 1), (alpha(30, 20, 2) * 255).astype(np.uint8)])

    def frame_function(t: float) -> np.ndarray[Any, np.dtype[np.uint8]]:
        out = base.copy()
        out[..., 0] = (out[..., 0].astype(int) + int(50 * t)) % 256
        return out

    layer = VideoClip(frame_function, duration=2.0)
    return CompositeVideoClip([background(), layer.with_position((30, 10))]).with_duration(1.0)


def bgclip() -> Any:
    clips = [moving(W, H, 1), image(33, 21, 2).with_position((10, 10)).with_opacity(0.6)]
    return CompositeVideoClip(clips, use_bgclip=True).with_duration(1.0)


def nothing_playing() -> Any:
    later = image(33, 21, 1).with_start(0.6).with_position((10, 10))
    return CompositeVideoClip([later], size=(W, H), bg_color=(5, 6, 7)).with_duration(1.0)


def text() -> Any:
    label = TextClip(font=font(), text="Hello, Ünïcode", font_size=18, color="white")
    boxed = TextClip(
        font=font(), text="boxed", font_size=14, color="yellow", bg_color=(0, 0, 80), margin=(4, 4)
    )
    clips = [
        background(),
        label.with_duration(2.0).with_position(("center", "bottom")),
        boxed.with_duration(2.0).with_position((-8, 5)),
        label.with_duration(2.0).with_position(lambda t: (int(80 * t), 20)).with_opacity(0.7),
    ]
    return CompositeVideoClip(clips, size=(W, H)).with_duration(1.0)


def video_file(directory: Path) -> Any:
    """A VideoFileClip made by ffmpeg here: subclipped, resized, crossfaded, with a caption."""
    path = directory / "source.mp4"
    if not path.exists():
        subprocess.run(
            [
                "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                f"testsrc2=size={W + 11}x{H + 9}:rate={FPS}:duration=3", "-pix_fmt", "yuv420p",
                str(path),
            ],
            check=True,
        )  # fmt: skip
    video = VideoFileClip(str(path), audio=False)
    first = video.subclipped(0.5, 1.5).resized((W, H))
    second = video.subclipped(1.0, 2.5).resized(lambda t: 1 + 0.2 * t).with_effects(
        [vfx.CrossFadeIn(0.4)]
    )
    show = concatenate_videoclips([first, second], method="compose", padding=-0.4)
    return CompositeVideoClip([show, image(20, 10, 1).with_position((2, 2))], size=(W, H))


def transparent_masks() -> Any:
    """Masked layers over the transparent canvas of a composite without bg_color."""
    clips = [
        image(33, 21, 1).with_mask(ImageClip(alpha(33, 21, 2), is_mask=True)).with_position((-4, 3)),
        moving(40, 30, 3).with_opacity(0.4).with_position((30, 20)),
        image(30, 20, 4).with_mask(ImageClip(alpha(30, 20, 5), is_mask=True)).with_position((35, 25)),
    ]
    return CompositeVideoClip(clips, size=(W, H)).with_duration(1.0)


def float_frames() -> Any:
    """Float frames (the uint8 conversion truncates) and a float background colour."""
    base = synthetic_image(40, 30, 1).astype(np.float64) * 0.8 + 10.5

    def frame_function(t: float) -> np.ndarray[Any, np.dtype[np.float64]]:
        return base + 17.25 * t

    clips = [VideoClip(frame_function, duration=2.0).with_position((10, 10))]
    return CompositeVideoClip(clips, size=(W, H), bg_color=(10.7, 20.2, 250.9)).with_duration(1.0)


def translucent_background() -> Any:
    """A bg_color with alpha: the canvas itself is partly transparent."""
    clips = [
        image(33, 21, 1).with_position((5, 5)),
        image(40, 30, 2).with_mask(ImageClip(alpha(40, 30, 3), is_mask=True)).with_position((30, 20)),
    ]
    return CompositeVideoClip(clips, size=(W, H), bg_color=(10, 20, 30, 128)).with_duration(1.0)


def relative_positions() -> Any:
    clips = [
        background(),
        image(33, 21, 1).with_position((0.3, 0.6), relative=True),
        image(20, 14, 2).with_position(("right", "top")),
        image(20, 14, 3).with_position(lambda t: (-0.1 + t, 0.5), relative=True),
    ]
    return CompositeVideoClip(clips, size=(W, H)).with_duration(1.0)


CASES: dict[str, Callable[[], Any]] = {
    "transparent_masks": transparent_masks,
    "float_frames": float_frames,
    "translucent_background": translucent_background,
    "relative_positions": relative_positions,
    "layers_positioned": layers_positioned,
    "opaque_background": opaque_background,
    "masks": masks,
    "opacity": opacity,
    "crossfades": crossfades,
    "fades": fades,
    "resized": resized,
    "chain": chain,
    "compose": compose,
    "nested": nested,
    "rgba_frames": rgba_frames,
    "bgclip": bgclip,
    "nothing_playing": nothing_playing,
    "text": text,
}


def divergent(width: int = 64, height: int = 36, duration: float = 1.0) -> Any:
    """A board ImageClip whose image another clip rewrites in place at every frame.

    MoviePy draws the writer first, then reads the board: its frames are a function of t. The
    fast path takes an ImageClip's image to stay as it is (as MoviePy's own image_transform
    does) and keeps its conversions: from the second frame it made on, it shows a stale board.
    """
    board_image = np.zeros((height // 2, width // 2, 3), dtype=np.uint8)
    board = ImageClip(board_image).with_duration(duration)

    def writer(t: float) -> np.ndarray[Any, np.dtype[np.uint8]]:
        board_image[...] = int(round(t * 30)) * 7 % 256
        return np.zeros((height, width, 3), dtype=np.uint8)

    clips = [VideoClip(writer, duration=duration), board.with_position((3, 4))]
    return CompositeVideoClip(clips, size=(width, height)).with_fps(30)
