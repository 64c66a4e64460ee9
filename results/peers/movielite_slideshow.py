"""The slideshow workload written in movielite 0.2.2's API, for the side-by-side in compare.py.

Run by compare.py in a child process whose ``PYTHONPATH`` holds a private movielite install
(it is no dependency of renderbench). Same slideshow as ``harness/workloads/slideshow.py``: the
same images (read from renderbench's image cache, which compare.py fills), each shown for
``per_image`` seconds and zoomed by ``1 + rate * t`` around its centre, each after the first
fading in over the one before it for ``crossfade`` seconds (MoviePy's ``CrossFadeIn``: only
the incoming image's opacity changes), the same audio (a WAV of the same tone). movielite
hard-codes x264's settings per quality (MIDDLE is veryfast, crf 21); they are set to the
comparison's preset and crf here.

Prints one JSON line: the seconds from building the clips to the written file.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from typing import Any

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("--images", nargs="+", required=True, help=".npy files, RGB uint8")
    parser.add_argument("--audio", required=True, help="WAV file of the soundtrack")
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--fps", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--crossfade", type=float, required=True)
    parser.add_argument("--zoom", type=float, required=True)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--crf", default="23")
    args = parser.parse_args()

    import movielite
    import movielite.core.video_writer as video_writer
    from movielite import AudioClip, ImageClip, VideoQuality, VideoWriter

    video_writer._get_ffmpeg_libx264_preset = lambda quality: args.preset
    video_writer._get_ffmpeg_libx264_crf = lambda quality: str(args.crf)
    movielite.set_log_level(logging.WARNING)

    started = time.perf_counter()
    count = len(args.images)
    crossfade = min(args.crossfade, args.duration / (2 * count)) if count > 1 else 0.0
    per_image = (args.duration + (count - 1) * crossfade) / count
    rate = args.zoom / per_image
    clips: list[Any] = []
    for k, path in enumerate(args.images):
        image = np.load(path)
        height, width = image.shape[:2]
        clip = ImageClip(image, start=k * (per_image - crossfade), duration=per_image)

        def scale(t: float) -> float:
            return 1.0 + rate * t

        def position(t: float, width: int = width, height: int = height) -> tuple[float, float]:
            s = scale(t)  # movielite resizes to int(size * s): centre that
            return ((args.width - int(width * s)) / 2, (args.height - int(height * s)) / 2)

        clip.set_scale(scale).set_position(position)
        if k > 0 and crossfade > 0:
            clip.set_opacity(lambda t: min(1.0, t / crossfade))
        clips.append(clip)
    size = (args.width, args.height)
    writer = VideoWriter(args.output, fps=args.fps, size=size, duration=args.duration)
    writer.add_clips(clips)
    writer.add_clip(AudioClip(args.audio))
    writer.write(processes=args.processes, video_quality=VideoQuality.MIDDLE)
    print(json.dumps({"seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
