"""An edit of a video file, as most MoviePy users make one.

Cuts from different points of a source video (each its own ``VideoFileClip``, as an editor
opens a file per cut, so that a crossfade between two cuts reads two files in order instead of
seeking one file back and forth), one of them punched in (resized by 25 % and cropped back to
the frame), crossfades between the cuts, a semi-transparent band over the picture with a caption
on it (a ``TextClip`` in DejaVu Sans Bold, the font matplotlib ships), and the source's own sound
mixed with a music file that fades in and out.

The source video and the music are made by ffmpeg once per machine (:mod:`harness.workloads.media`);
``source=`` edits any other file instead (a file without an audio track gets the music alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.workloads import fonts, media

#: Where each cut starts, as a fraction of the room the source leaves (its length minus the
#: cut's): out of order, as an edit jumps around its footage, and from all three sections.
CUT_POINTS: tuple[float, ...] = (0.04, 0.55, 0.3, 0.85, 0.15, 0.7)

CAPTION = "Cut, mixed and captioned in MoviePy"

#: How much of the music goes into the mix (the source's own sound stays at full level).
MUSIC_VOLUME = 0.35

#: Punch-in of the resized cut.
PUNCH_IN = 1.25


def cut_starts(source_seconds: float, cut_seconds: float, cuts: int, frame: float) -> list[float]:
    """Start time of each cut in a source of ``source_seconds``; every cut ends a frame before
    the source does (MoviePy's reader repeats its last frame past the end of a file)."""
    room = source_seconds - cut_seconds - 2 * frame
    if room < 0:
        raise ValueError(
            f"a {source_seconds:g} s source is too short for cuts of {cut_seconds:g} s; "
            "use a longer source or fewer, shorter cuts"
        )
    return [room * CUT_POINTS[k % len(CUT_POINTS)] for k in range(cuts)]


def _close_with(clip: Any, files: Sequence[Any]) -> Any:
    """``clip`` whose ``close()`` also closes the file clips inside it (MoviePy's close of a
    composite leaves them to the garbage collector, with their ffmpeg processes)."""
    close_composite = clip.close

    def close() -> None:
        close_composite()
        for file in files:
            file.close()

    clip.close = close
    return clip


def make(
    width: int = 1920,
    height: int = 1080,
    fps: float = 30,
    duration: float = 10.0,
    cuts: int = 4,
    crossfade: float = 0.5,
    source: str | None = None,
    source_seconds: float = 24.0,
    music: bool = True,
    audio: bool = True,
) -> Any:
    """The edit: ``duration`` seconds at ``fps`` of ``cuts`` cuts of the source video.

    ``source``: a video file to edit (default: the generated source video at ``width`` x
    ``height``, ``fps`` and ``source_seconds``). ``audio=False``: a silent edit.
    """
    from moviepy import (
        AudioFileClip,
        ColorClip,
        CompositeAudioClip,
        CompositeVideoClip,
        TextClip,
        VideoFileClip,
        afx,
        concatenate_videoclips,
        vfx,
    )

    if cuts < 1:
        raise ValueError("cuts must be >= 1")
    path = str(source) if source is not None else str(media.source_video(width, height, fps, source_seconds))
    crossfade = min(crossfade, duration / (2 * cuts)) if cuts > 1 else 0.0
    cut_seconds = (duration + (cuts - 1) * crossfade) / cuts

    files = [VideoFileClip(path, audio=audio) for _ in range(cuts)]
    try:
        starts = cut_starts(files[0].duration, cut_seconds, cuts, 1 / files[0].fps)
        pieces = []
        for k, (file, start) in enumerate(zip(files, starts)):
            piece = file.subclipped(start, start + cut_seconds)
            if k == min(2, cuts - 1):  # the third cut (or the last, with fewer)
                w, h = piece.size
                piece = piece.resized(PUNCH_IN).cropped(
                    x_center=w * PUNCH_IN / 2, y_center=h * PUNCH_IN / 2, width=w, height=h
                )
            if tuple(piece.size) != (width, height):
                piece = piece.resized((width, height))
            if k > 0 and crossfade > 0:
                piece = piece.with_effects([vfx.CrossFadeIn(crossfade)])
            pieces.append(piece)
        edit = concatenate_videoclips(pieces, method="compose", padding=-crossfade)

        # A band over the lower part of the picture, and the caption on it, for the middle half.
        shown = (0.25 * duration, 0.5 * duration)
        band_height = max(2, height // 6 // 2 * 2)
        band_top = height - band_height - height // 12
        band = (
            ColorClip((width, band_height), color=(12, 24, 48))
            .with_opacity(0.55)
            .with_start(shown[0])
            .with_duration(shown[1])
            .with_position((0, band_top))
        )
        fade = min(0.3, shown[1] / 4)
        caption = TextClip(
            font=fonts.bold(), text=CAPTION, font_size=max(8, height // 18), color="white",
            margin=(0, max(2, height // 90)),
        )  # fmt: skip
        caption = (
            caption.with_start(shown[0])
            .with_duration(shown[1])
            .with_position(("center", band_top + (band_height - caption.h) // 2))
            .with_effects([vfx.CrossFadeIn(fade), vfx.CrossFadeOut(fade)])
        )
        clip = CompositeVideoClip([edit, band, caption], size=(width, height))
        clip = clip.with_duration(duration).with_fps(fps)

        if audio:
            tracks = [] if edit.audio is None else [edit.audio]
            if music:
                song = AudioFileClip(str(media.music(duration))).with_effects(
                    [afx.MultiplyVolume(MUSIC_VOLUME), afx.AudioFadeIn(min(0.5, duration / 4)),
                     afx.AudioFadeOut(min(1.0, duration / 4))]
                )  # fmt: skip
                files.append(song)
                tracks.append(song)
            mixed = CompositeAudioClip(tracks).with_duration(duration) if tracks else None
            clip = clip.with_audio(mixed) if mixed is not None else clip.without_audio()
        else:
            clip = clip.without_audio()
    except BaseException:
        for file in files:
            file.close()
        raise
    return _close_with(clip, files)

