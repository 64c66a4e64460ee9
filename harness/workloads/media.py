"""The media files the ``edit`` and ``captions`` workloads read: a source video and a music track.

Both are made by ffmpeg from its own generators (nothing is downloaded), once per machine and
set of parameters, into the cache folder (:mod:`harness.workloads.cache`, under ``media/``).

The source video stands in for camera footage: three sections of moving detail (a zoom into
the Mandelbrot set with drifting hue, Conway's life with mould, a rotating test pattern), film
grain that changes every frame, H.264 with B-frames and a keyframe every second as a camera or
phone writes it, and a stereo AAC track (pink-noise ambience, a tremolo tone and slowly wavering
tones). The music track is a four-chord arpeggio over a bass line with off-beat hi-hats (AAC).
The generators are seeded and the encoder's thread count is fixed, so the files are the same
bytes on every machine with the same ffmpeg.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from harness.workloads.cache import cache_dir, cached_file

#: Bumped whenever a recipe below changes, so that stale cached files are never read.
VERSION = 1

AUDIO_RATE = 44100

#: Camera-like encoding: x264's B-frames and CABAC, a keyframe every second (as phones and
#: action cameras write them; MoviePy's seek decodes from the keyframe before the cut), and a
#: fixed thread count (x264's output depends on it) so every machine makes the same file.
_VIDEO_ARGS = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-threads", "4")
_AUDIO_ARGS = ("-c:a", "aac", "-b:a", "160k", "-ar", str(AUDIO_RATE), "-ac", "2")


def _rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


def _tag(value: float) -> str:
    return f"{value:g}".replace(".", "p")


def _even(value: int) -> int:
    return max(16, value // 2 * 2)


def source_filtergraph(width: int, height: int, fps: float, seconds: float) -> str:
    """The ffmpeg filter graph of the source video: outputs ``[v]`` (and ``[a]``, the audio)."""
    rate = _rate(fps)
    frames = round(seconds * rate)
    first, second = frames // 3, frames // 3
    third = frames - first - second
    small = f"{_even(width // 4)}x{_even(height // 4)}"
    up = f"scale={width}:{height}:flags=bicubic,setsar=1"
    r = f"{rate.numerator}/{rate.denominator}"
    video = (
        # Generated at a quarter of the size (the fractal costs ~1 s per full-HD frame) and
        # scaled up: soft, zooming, colour-shifting detail.
        # end_pts counts frames: the zoom reaches its end scale at the section's last frame.
        f"mandelbrot=size={small}:rate={r}:maxiter=256:start_scale=3:end_scale=0.01:"
        f"end_pts={first}:outer=normalized_iteration_count,{up},hue=h=36*t,"
        f"trim=end_frame={first},setpts=PTS-STARTPTS[fractal];"
        f"life=size={small}:rate={r}:mold=12:ratio=0.1:seed=7:"
        f"life_color=#f0c040:death_color=#102040:mold_color=#2060b0,{up},"
        f"trim=end_frame={second},setpts=PTS-STARTPTS[life];"
        f"testsrc2=size={width}x{height}:rate={r},rotate=a=0.2*t:c=0x203040,setsar=1,"
        f"trim=end_frame={third},setpts=PTS-STARTPTS[pattern];"
        # Grain that changes every frame (temporal and uniform), as a real sensor's does.
        f"[fractal][life][pattern]concat=n=3:v=1:a=0,noise=alls=5:allf=t+u,format=yuv420p[v]"
    )
    stereo = f"aformat=sample_rates={AUDIO_RATE}:channel_layouts=stereo"
    audio = (
        f"anoisesrc=color=pink:amplitude=0.06:seed=11:sample_rate={AUDIO_RATE},{stereo}[noise];"
        f"sine=frequency=196:sample_rate={AUDIO_RATE},tremolo=f=3:d=0.6,{stereo}[hum];"
        f"aevalsrc=exprs='0.12*sin(2*PI*(330+60*sin(2*PI*0.2*t))*t)|"
        f"0.12*sin(2*PI*(440+50*sin(2*PI*0.15*t))*t)':sample_rate={AUDIO_RATE},{stereo}[tones];"
        f"[noise][hum][tones]amix=inputs=3:normalize=0,atrim=duration={seconds + 0.1:.6f}[a]"
    )
    return f"{video};{audio}"


def source_video(
    width: int = 1920, height: int = 1080, fps: float = 30, seconds: float = 24.0, audio: bool = True
) -> Path:
    """The source video at these parameters, made by ffmpeg the first time (minutes at full HD)."""
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ValueError(f"the source video needs an even size of at least 16x16, got {width}x{height}")
    if seconds <= 0 or fps <= 0:
        raise ValueError(f"the source video needs a positive length and rate, got {seconds} s at {fps} fps")
    name = f"source-v{VERSION}-{width}x{height}-{_tag(fps)}fps-{_tag(seconds)}s{'' if audio else '-silent'}.mp4"

    def make(path: Path) -> None:
        from impls.ffmpeg.command import rate_arg
        from impls.ffmpeg.process import run

        rate = _rate(fps)
        maps = ["-map", "[v]", *(["-map", "[a]", *_AUDIO_ARGS] if audio else [])]
        run(
            [
                "-loglevel", "error", "-y", "-filter_complex", source_filtergraph(width, height, fps, seconds),
                *maps, *_VIDEO_ARGS, "-g", str(max(1, round(rate))), "-r", rate_arg(rate),
                "-frames:v", str(round(seconds * rate)), "-movflags", "+faststart", str(path),
            ],  # fmt: skip
            f"making the source video {name}",
            tied=True,
        )

    return cached_file(cache_dir() / "media" / name, make)


def music_expression() -> str:
    """aevalsrc's expressions (left|right) of the music: 120 bpm, a chord every 2 s."""
    step = "floor(t*4)"
    chord = "mod(floor(t/2)\\,4)"  # I vi IV V, as semitones over C
    root = f"(-3*eq({chord}\\,1)+5*eq({chord}\\,2)+7*eq({chord}\\,3))"
    note = f"mod({step}\\,4)"
    interval = f"(4*eq({note}\\,1)+7*eq({note}\\,2)+12*eq({note}\\,3))"
    lead = f"0.16*exp(-6*mod(t\\,0.25))*sin(2*PI*261.63*pow(2\\,({root}+{interval})/12)*t)"
    bass = f"0.12*(0.6+0.4*exp(-4*mod(t\\,0.5)))*sin(2*PI*65.41*pow(2\\,{root}/12)*t)"
    hat = "0.05*(random(0)-0.5)*exp(-40*mod(t+0.125\\,0.25))"
    return f"{lead}+{bass}+{hat}|0.8*{lead}+{bass}+{hat}"


def music(seconds: float) -> Path:
    """The music track, ``seconds`` long (AAC in M4A), made by ffmpeg the first time."""
    if seconds <= 0:
        raise ValueError(f"music needs a positive length, got {seconds} s")
    name = f"music-v{VERSION}-{_tag(seconds)}s.m4a"

    def make(path: Path) -> None:
        from impls.ffmpeg.process import run

        run(
            [
                "-loglevel", "error", "-y", "-f", "lavfi",
                "-i", f"aevalsrc=exprs={music_expression()}:sample_rate={AUDIO_RATE}:duration={seconds:.6f}",
                *_AUDIO_ARGS, str(path),
            ],  # fmt: skip
            f"making the music track {name}",
            tied=True,
        )

    return cached_file(cache_dir() / "media" / name, make)
