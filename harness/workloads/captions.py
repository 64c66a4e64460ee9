"""Titles, lower thirds and subtitles over video: ``TextClip`` work, as in a captioned clip.

Over a stretch of the source video (:mod:`harness.workloads.media`, or any file given as
``source=``): a title and a subtitle that fade in and out at the start; a lower third (a
semi-transparent band with a name and a role) that slides in from the left and out again; and
subtitles, one line every couple of seconds, outlined in black at the bottom of the picture.
Text is set in DejaVu Sans and DejaVu Sans Bold, the fonts matplotlib ships, so it renders the
same everywhere with nothing downloaded. The source's own sound is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.workloads import fonts, media

TITLE = ("Render in parallel", "frame-exact, from MoviePy and Manim")
LOWER_THIRD = ("Ada Example", "video engineer, renderbench")
SUBTITLES = (
    "Every worker builds the clip from the same factory.",
    "Frames are rendered by index, at MoviePy's own times,",
    "so the output equals what write_videofile makes.",
    "Cuts, crossfades, titles and captions included.",
    "The audio track is encoded once and muxed at the end.",
    "Nothing here was downloaded: ffmpeg made the footage.",
)

#: Where the background starts in the source, as a fraction of the room it leaves.
START = 0.2


def _slide(x_in: float, x_out: float, length: float, move: float) -> Callable[[float], float]:
    """x of a lower third at its own time ``t``: slides from ``x_out`` to ``x_in`` and back
    (``move`` seconds each way) over its ``length`` seconds."""

    def x(t: float) -> float:
        if t < move:
            return x_out + (x_in - x_out) * t / move
        if t > length - move:
            return x_in + (x_out - x_in) * min(1.0, (t - (length - move)) / move)
        return x_in

    return x


def make(
    width: int = 1920,
    height: int = 1080,
    fps: float = 30,
    duration: float = 10.0,
    source: str | None = None,
    source_seconds: float = 24.0,
    audio: bool = True,
) -> Any:
    """``duration`` seconds of the source video at ``fps`` with a title, a lower third and subtitles."""
    from moviepy import ColorClip, CompositeVideoClip, TextClip, VideoFileClip, vfx

    path = str(source) if source is not None else str(media.source_video(width, height, fps, source_seconds))
    file = VideoFileClip(path, audio=audio)
    try:
        room = file.duration - duration - 2 / file.fps
        if room < 0:
            raise ValueError(f"a {file.duration:g} s source is too short for {duration:g} s of captions")
        start = room * START
        video = file.subclipped(start, start + duration)
        if tuple(video.size) != (width, height):
            video = video.resized((width, height))
        layers: list[Any] = [video]
        unit = max(1, height // 54)  # 20 px at 1080p: margins and outlines scale with the frame

        # The title: the first quarter, fading in and out.
        title_end = 0.25 * duration
        fade = min(0.4, title_end / 4)
        title = TextClip(font=fonts.bold(), text=TITLE[0], font_size=max(10, height // 10), color="white",
                         stroke_color="black", stroke_width=max(1, unit // 4), margin=(unit, unit))  # fmt: skip
        subtitle = TextClip(font=fonts.regular(), text=TITLE[1], font_size=max(8, height // 22), color="#ffe08a",
                            margin=(unit, unit // 2))  # fmt: skip
        title_top = (height - title.h - subtitle.h) // 2
        for clip, top in ((title, title_top), (subtitle, title_top + title.h)):
            layers.append(
                clip.with_duration(title_end)
                .with_position(("center", top))
                .with_effects([vfx.CrossFadeIn(fade), vfx.CrossFadeOut(fade)])
            )

        # The lower third: a band with a name and a role, sliding in from the left and out again.
        shown = (0.3 * duration, 0.4 * duration)
        move = min(0.5, shown[1] / 4)
        # A vertical margin, or MoviePy's label crops the descenders.
        pad = (0, max(1, unit // 3))
        name = TextClip(font=fonts.bold(), text=LOWER_THIRD[0], font_size=max(8, height // 20), color="white",
                        margin=pad)  # fmt: skip
        role = TextClip(font=fonts.regular(), text=LOWER_THIRD[1], font_size=max(6, height // 32), color="#cfd8ff",
                        margin=pad)  # fmt: skip
        band_w = max(name.w, role.w) + 4 * unit
        band_h = name.h + role.h + 2 * unit
        band = ColorClip((band_w, band_h), color=(20, 40, 90)).with_opacity(0.7)
        lower_third = CompositeVideoClip(
            [band, name.with_position((2 * unit, unit)), role.with_position((2 * unit, unit + name.h))],
            size=(band_w, band_h),
        )
        # One column stays on screen at either end of the slide: MoviePy's mask compositing
        # fails on a layer that lies wholly left of the frame.
        x = _slide(2 * unit, 1 - band_w, shown[1], move)
        band_top = int(height * 0.62)  # above the subtitles
        layers.append(
            lower_third.with_start(shown[0])
            .with_duration(shown[1])
            .with_position(lambda t: (x(t), band_top))
        )

        # Subtitles: after the title, one line after another until the end.
        first = title_end
        lines = max(1, min(len(SUBTITLES), round((duration - first) / 2.0)))
        each = (duration - first) / lines
        for k in range(lines):
            line = TextClip(
                font=fonts.regular(), text=SUBTITLES[k], font_size=max(6, height // 27), color="white",
                stroke_color="black", stroke_width=max(1, unit // 6), method="caption",
                size=(int(width * 0.8) // 2 * 2, None), text_align="center", margin=(0, unit // 2),
            )  # fmt: skip
            layers.append(
                line.with_start(first + k * each)
                .with_duration(each)
                .with_position(("center", height - line.h - unit))
            )

        clip = CompositeVideoClip(layers, size=(width, height)).with_duration(duration).with_fps(fps)
        clip = clip.with_audio(video.audio) if audio and video.audio is not None else clip.without_audio()
    except BaseException:
        file.close()
        raise
    close_composite = clip.close

    def close() -> None:
        close_composite()
        file.close()

    clip.close = close
    return clip
