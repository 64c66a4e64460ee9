"""Side by side on one slideshow: MoviePy's write_videofile, renderbench, movielite 0.2.2.

    .venv/bin/python results/peers/compare.py                      # the real run (full HD)
    .venv/bin/python results/peers/compare.py --width 320 --height 180 --duration 1 \\
        --rounds 1 --out /tmp/peers.md                            # a check that it works

The slideshow is renderbench's workload (4 images, Ken Burns zoom, 1 s crossfades, audio,
1080p30, 10 s by default); movielite renders the same slideshow written in its own API
(``movielite_slideshow.py``), in a child process whose ``PYTHONPATH`` holds movielite
installed for this comparison only (``pip install --target``, into ``--movielite-dir``; it is
no dependency of renderbench). Every tool uses the ffmpeg on PATH and libx264 at the same
preset and crf. Rounds are interleaved (each round runs every tool once, in a rotating order)
and the table gives medians; each output's frame count is checked. Run it on a quiet machine:
the table is only as good as the machine was idle.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from harness.validate import psnr  # noqa: E402
from harness.workloads.slideshow import cache_dir, cached_image  # noqa: E402
from impls import ClipSource, EncoderSpec, RenderJob, get_renderer  # noqa: E402
from impls.ffmpeg.probe import count_packets  # noqa: E402
from impls.ffmpeg.tools import ffmpeg_binary, ffmpeg_version  # noqa: E402
from impls.runtime.executor import usable_cores  # noqa: E402

MOVIELITE = "movielite==0.2.2"
HERE = Path(__file__).resolve().parent


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=float, default=30)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--renderer", default="pipe", help="renderbench's renderer (default: pipe)")
    parser.add_argument(
        "--workers", type=int, default=usable_cores(),
        help="renderbench's workers and movielite's processes (default: usable cores)",
    )  # fmt: skip
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--crf", type=int, default=23)
    parser.add_argument("--out", type=Path, default=HERE / "report.md")
    parser.add_argument(
        "--movielite-dir", type=Path, default=cache_dir() / "peers" / "movielite-0.2.2",
        help="where movielite is installed for the comparison (default: %(default)s)",
    )  # fmt: skip
    return parser.parse_args()


SLIDESHOW = {"images": 4, "crossfade": 1.0, "zoom": 0.04, "seed": 0}


def _install_movielite(target: Path) -> None:
    if (target / "movielite" / "__init__.py").exists():
        return
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), MOVIELITE],
        check=True,
    )


def _images(width: int, height: int) -> list[Path]:
    """The slideshow's images, as cached by the workload (the same arrays MoviePy shows)."""
    paths = []
    for k in range(SLIDESHOW["images"]):
        size = (int(width * 1.1) // 2 * 2, int(height * 1.1) // 2 * 2)
        cached_image(*size, SLIDESHOW["seed"] + k)  # made (or found) in the cache
        paths.append(cache_dir() / "slideshow" / f"img-v1-{size[0]}x{size[1]}-{SLIDESHOW['seed'] + k}.npy")
    return paths


def _audio(path: Path, duration: float) -> None:
    """The workload's tone as 16-bit stereo WAV (movielite reads audio from files only)."""
    from harness.workloads.slideshow import _tone

    tone = _tone(duration)
    t = np.arange(int(duration * 44100)) / 44100
    samples = np.clip(tone.frame_function(t), -1, 1)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes((samples * 32767).astype("<i2").tobytes())


def main() -> None:
    args = _arguments()
    _install_movielite(args.movielite_dir)
    work = Path(tempfile.mkdtemp(prefix="renderbench-peers-"))
    images = _images(args.width, args.height)
    wav = work / "tone.wav"
    _audio(wav, args.duration)
    source = ClipSource(
        "harness.workloads.slideshow:make",
        {"width": args.width, "height": args.height, "fps": args.fps, "duration": args.duration,
         **{k: v for k, v in SLIDESHOW.items() if k != "seed"}},
    )  # fmt: skip
    encoder = EncoderSpec(codec="libx264", preset=args.preset, crf=args.crf)

    def moviepy(out: Path) -> float:
        return _timed(lambda: get_renderer("baseline").render(RenderJob(source, out, encoder=encoder)))

    def renderbench(out: Path) -> float:
        job = RenderJob(source, out, encoder=encoder, workers=args.workers)
        return _timed(lambda: get_renderer(args.renderer).render(job))

    def movielite(out: Path) -> float:
        command = [
            sys.executable, str(HERE / "movielite_slideshow.py"), str(out),
            "--images", *map(str, images), "--audio", str(wav),
            "--width", str(args.width), "--height", str(args.height), "--fps", str(args.fps),
            "--duration", str(args.duration), "--crossfade", str(SLIDESHOW["crossfade"]),
            "--zoom", str(SLIDESHOW["zoom"]), "--processes", str(args.workers),
            "--preset", args.preset, "--crf", str(args.crf),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(args.movielite_dir)}
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=work)
        if done.returncode != 0:
            raise RuntimeError(f"movielite failed:\n{done.stderr[-3000:]}")
        seconds: float = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
        return seconds

    tools: dict[str, Callable[[Path], float]] = {
        "MoviePy write_videofile": moviepy,
        f"renderbench {args.renderer}, {args.workers} workers": renderbench,
        f"movielite 0.2.2, {args.workers} processes": movielite,
    }
    expected = int(args.duration * args.fps)
    walls: dict[str, list[float]] = {name: [] for name in tools}
    names = list(tools)
    firsts = {name: work / f"first-{k}.mp4" for k, name in enumerate(names)}
    for round_ in range(args.rounds):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            out = firsts[name] if not walls[name] else work / "again.mp4"
            walls[name].append(tools[name](out))
            frames = count_packets(out)
            if frames != expected:
                raise RuntimeError(f"{name} wrote {frames} frames, expected {expected}")
            print(f"round {round_ + 1}: {name}: {walls[name][-1]:.1f} s", flush=True)
    # The same slideshow? Each first output against MoviePy's (movielite resamples with OpenCV,
    # so its pixels differ a little; renderbench's equal MoviePy's frames).
    similarity = {name: psnr(path, firsts[names[0]]) for name, path in firsts.items()}
    args.out.write_text(_table(args, walls, similarity))
    print(args.out.read_text())


def _timed(render: Callable[[], Any]) -> float:
    started = time.perf_counter()
    render()
    return time.perf_counter() - started


def _table(args: argparse.Namespace, walls: dict[str, list[float]], similarity: dict[str, float]) -> str:
    reference = statistics.median(next(iter(walls.values())))
    crossfade = min(SLIDESHOW["crossfade"], args.duration / (2 * SLIDESHOW["images"]))
    cpu = platform.processor() or "?"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    lines = [
        "# Slideshow side by side: MoviePy, renderbench, movielite",
        "",
        f"{args.width}x{args.height} at {args.fps:g} fps, {args.duration:g} s, "
        f"{SLIDESHOW['images']} images, Ken Burns zoom, {crossfade:g} s crossfades, "
        f"audio; libx264 {args.preset} crf {args.crf}, pix_fmt yuv420p, "
        f"{ffmpeg_binary()} ({ffmpeg_version()}). {usable_cores()} cores ({cpu}). "
        f"Medians of {args.rounds} interleaved rounds; wall time from building the clip to the "
        "written file (movielite: from building its clips, its imports not counted).",
        "",
        "PSNR: each tool's output against MoviePy's, both encoded at that crf (the same slideshow "
        "drawn by another resampler scores in the 30s; inf means identical frames).",
        "",
        "| tool | wall (median) | × MoviePy | rounds (s) | PSNR vs MoviePy |",
        "| --- | ---: | ---: | --- | ---: |",
    ]
    for name, values in walls.items():
        median = statistics.median(values)
        rounds = ", ".join(f"{v:.1f}" for v in values)
        ratio, psnr_db = reference / median, similarity[name]
        lines.append(f"| {name} | {median:.1f} s | {ratio:.2f}× | {rounds} | {psnr_db:.1f} dB |")
    command = " ".join([".venv/bin/python", "results/peers/compare.py", *sys.argv[1:]])
    lines += ["", f"Command: `{command}`", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
