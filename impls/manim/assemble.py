"""From rendered scene videos to one output: hold frames, join, one audio track, one mux.

The rules, the same for every Manim renderer:

- A scene that plays no animation, of which manim saves only a picture of its last frame, is
  that picture shown for its narration's length, or ``still_duration`` seconds without one
  (:func:`hold`), encoded as held frames are.
- A scene whose narration is longer than its video holds its last frame until the narration
  ends (rounded up to a whole frame); ``padding`` adds that many more seconds of held frame
  (and silence) after every scene. Only the held frames are encoded (:func:`still_tail`);
  manim's own stream is kept as it is.
- The video-only scene files are joined with the concat demuxer without re-encoding. Should
  their encodings differ (then a copy would decode wrongly), they are re-encoded together.
- The audio track is built once for the whole video: each scene's narration starts at the
  sample where its scene starts, silence elsewhere; it is encoded once and muxed once.
  (Concatenating per-scene files that already carry AAC gives non-monotonous timestamps and a
  23 ms offset, measured with ffmpeg 5.1.)
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from impls.errors import RenderFailed
from impls.ffmpeg.files import writing
from impls.ffmpeg.operations import (
    AudioPiece,
    build_audio_track,
    concat,
    concat_reencoded,
    mux_audio,
    still_image,
    still_tail,
)
from impls.ffmpeg.probe import count_packets, frames_and_rate, video_signature
from impls.manim.preflight import TRACK_RATE, ManimPlan
from impls.model.protocol import EncoderSpec


#: What manim saves of a scene that plays no animation: a picture of its last frame.
STILL_SUFFIX = ".png"


@dataclass
class SceneClip:
    """A rendered scene: its video files in order (one, or one per animation range), or the
    ``still`` picture of a scene that plays no animation (its video is made by :func:`hold`).

    ``held`` frames of its last picture follow it, encoded into ``tail`` by :func:`hold`.
    """

    scene: str
    segments: list[tuple[Path, int]]  # (file, frames)
    rate: Fraction
    held: int | None = None  # None: not decided yet
    tail: Path | None = None
    still: Path | None = None

    @property
    def frames(self) -> int:
        return sum(frames for _, frames in self.segments)


@dataclass
class Assembled:
    """What :func:`assemble` wrote: total frames, rate, and where each scene sits."""

    frames: int
    rate: Fraction
    scenes: list[dict[str, Any]] = field(default_factory=list)
    reencoded: bool = False
    audio: bool = False
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return float(self.frames / self.rate)


def clip_from_files(scene: str, files: Sequence[Path], plan: ManimPlan) -> SceneClip:
    """Probe ``files`` (frames, rate) into a :class:`SceneClip`; all must share one rate. A
    picture (manim's of a scene that plays no animation) is a still at the plan's rate."""
    if len(files) == 1 and files[0].suffix == STILL_SUFFIX:
        return SceneClip(scene, [], plan.rate, still=files[0])
    segments: list[tuple[Path, int]] = []
    rates: set[Fraction] = set()
    for path in files:
        frames, rate = frames_and_rate(path)
        segments.append((path, frames))
        rates.add(rate)
    if len(rates) != 1:
        raise RenderFailed(f"scene {scene}: its video files have different frame rates {sorted(rates)}")
    return SceneClip(scene, segments, rates.pop())


def held_frames(clip: SceneClip, audio_seconds: Fraction | None, padding: Fraction) -> int:
    """Frames of held last frame that follow ``clip``: up to its audio's end, plus padding."""
    target = clip.frames
    if audio_seconds is not None:
        target = max(target, math.ceil(audio_seconds * clip.rate))
    return target - clip.frames + round(padding * clip.rate)


def hold(clip: SceneClip, plan: ManimPlan, encoder: EncoderSpec, workdir: Path, tag: str) -> SceneClip:
    """Decide ``clip``'s held frames and encode them, a still's whole video first (once;
    renderers call it as scenes finish, so that the encoding overlaps the scenes still
    rendering)."""
    if clip.held is not None:
        return clip
    if clip.still is not None:
        seconds = plan.still_seconds(clip.scene)
        assert seconds is not None, "a still when the plan shows none"
        frames = max(1, math.ceil(seconds * clip.rate))
        video = workdir / f"still-{tag}.mp4"
        still_image(clip.still, frames, clip.rate, encoder, video)
        clip.segments = [(video, frames)]
    clip.held = held_frames(clip, plan.audio_seconds.get(clip.scene), plan.padding)
    if clip.held > 0:
        last_path, last_frames = clip.segments[-1]
        clip.tail = workdir / f"hold-{tag}.mp4"
        still_tail(last_path, last_frames - 1, clip.held, clip.rate, encoder, clip.tail)
    return clip


def assemble(
    clips: list[SceneClip],
    plan: ManimPlan,
    encoder: EncoderSpec,
    output: Path,
    workdir: Path,
) -> Assembled:
    """Write ``clips`` (in order) into ``output``: held frames, join, audio track, mux."""
    if not clips:
        raise RenderFailed("no scene was rendered, so there is nothing to write")
    rates = {clip.rate for clip in clips}
    if len(rates) != 1:
        raise RenderFailed(f"scenes were rendered at different frame rates: {sorted(rates)}")
    rate = rates.pop()
    stages: dict[str, float] = {}

    started = time.perf_counter()
    segments: list[Path] = []
    lengths: list[Fraction] = []  # frames / rate: manim states a scene's run time instead
    layout: list[dict[str, Any]] = []
    start = 0
    for index, clip in enumerate(clips):
        hold(clip, plan, encoder, workdir, f"late-{index:04d}")
        held = clip.held or 0
        segments += [path for path, _ in clip.segments]
        lengths += [frames / rate for _, frames in clip.segments]
        if clip.tail is not None:
            segments.append(clip.tail)
            lengths.append(held / rate)
        layout.append({"scene": clip.scene, "start": start, "frames": clip.frames, "held": held})
        start += clip.frames + held
    stages["hold"] = time.perf_counter() - started

    started = time.perf_counter()
    video = workdir / f"video{output.suffix}"
    signatures = {video_signature(path) for path in segments}
    reencoded = len(signatures) > 1
    if reencoded:
        concat_reencoded(segments, video, encoder)
    else:
        concat(segments, video, workdir, lengths)
    stages["concat"] = time.perf_counter() - started

    frames = count_packets(video)
    if frames != start:
        raise RenderFailed(
            f"joined video has {frames} frames, expected {start} (scenes plus held frames)"
        )

    with_audio = any(clip.scene in plan.audio for clip in clips)
    if with_audio:
        started = time.perf_counter()
        pieces = []
        for item in layout:
            first = item["start"] * TRACK_RATE / rate
            end = (item["start"] + item["frames"] + item["held"]) * TRACK_RATE / rate
            pieces.append(AudioPiece(plan.audio.get(item["scene"]), round(end) - round(first)))
        track = workdir / f"audio{output.suffix}"
        build_audio_track(
            pieces, track, sample_rate=TRACK_RATE, codec=encoder.audio_codec,
            bitrate=encoder.audio_bitrate,
        )  # fmt: skip
        stages["audio"] = time.perf_counter() - started
        started = time.perf_counter()
        mux_audio(video, track, output)
        stages["mux"] = time.perf_counter() - started
    else:
        with writing(output, f"moving the video into place as {output.name}"):
            shutil.move(str(video), str(output))
    return Assembled(
        frames=frames, rate=rate, scenes=layout, reencoded=reencoded, audio=with_audio, stages=stages
    )
