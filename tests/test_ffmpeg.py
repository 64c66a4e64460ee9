"""The ffmpeg layer: locating binaries, encoders, the writer, concat, atomic outputs, reading back."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import psutil
import pytest

from harness.decode import codec_of_encoder, framemd5, iter_rgb_frames
from harness.validate import probe_video
from harness.workloads import frame_index
from impls import (
    ClipSource,
    EncoderSpec,
    EncoderUnavailable,
    FFmpegError,
    InvalidJob,
    RenderJob,
    ToolNotFound,
    get_renderer,
)
from impls.ffmpeg.command import RawFormat, encoder_args, rate_arg
from impls.ffmpeg.files import atomic_output, check_output_path, scratch_dir
from impls.ffmpeg.operations import concat, mux_audio
from impls.ffmpeg.process import FrameWriter, run
from impls.ffmpeg.tools import check_encoder, check_tools, ffmpeg_binary, ffmpeg_version, ffprobe_binary, use_for_moviepy, video_encoders
from impls.model.timeline import Timeline
from tests.renders import TINY_FRAME_INDEX, BaselineRenders

ULTRAFAST = EncoderSpec(preset="ultrafast")


def write_frames(path: Path, indices: range, rate: Fraction, spec: EncoderSpec = ULTRAFAST) -> Path:
    fmt = RawFormat(64, 64, rate)
    with FrameWriter(path, fmt, spec) as writer:
        for i in indices:
            writer.write(frame_index.draw(i, 64, 64))
    return path


def child_pids() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


# ---------------------------------------------------------------------------------------------
# Locating the binaries


@pytest.mark.parametrize(
    ("variable", "locate", "tool"),
    [
        ("RENDERBENCH_FFMPEG", ffmpeg_binary, "ffmpeg"),
        ("RENDERBENCH_FFPROBE", ffprobe_binary, "ffprobe"),
    ],
    ids=["ffmpeg", "ffprobe"],
)
def test_missing_binary_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, locate: object, tool: str
) -> None:
    monkeypatch.setenv(variable, str(tmp_path / f"no-{tool}"))
    with pytest.raises(ToolNotFound, match=rf"^{tool} not found: {variable}=") as info:
        locate()  # type: ignore[operator]
    assert info.value.tool == tool
    with pytest.raises(ToolNotFound, match=rf"^{tool} not found"):
        check_tools()


def test_binary_missing_from_path_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RENDERBENCH_FFMPEG", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolNotFound, match="ffmpeg not found: install it .*apt-get install ffmpeg"):
        ffmpeg_binary()


def test_render_with_missing_ffmpeg_fails_before_writing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RENDERBENCH_FFMPEG", str(tmp_path / "no-ffmpeg"))
    job = RenderJob(source=ClipSource("harness.workloads.frame_index:make", TINY_FRAME_INDEX), output=tmp_path / "out.mp4")
    with pytest.raises(ToolNotFound, match="^ffmpeg not found"):
        get_renderer("baseline").render(job)
    assert list(tmp_path.iterdir()) == []


def test_version_is_recorded() -> None:
    version = ffmpeg_version()
    assert version and version[0].isdigit() or version.startswith("n")


def test_moviepy_uses_our_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    import moviepy.audio.io.ffmpeg_audiowriter
    import moviepy.config
    import moviepy.video.io.ffmpeg_reader
    import moviepy.video.io.ffmpeg_writer

    monkeypatch.delenv("FFMPEG_BINARY", raising=False)  # restored after the test
    binary = use_for_moviepy()
    assert binary == ffmpeg_binary()
    modules = [m for name, m in sys.modules.items() if name.startswith("moviepy") and hasattr(m, "FFMPEG_BINARY")]
    assert moviepy.video.io.ffmpeg_writer in modules and moviepy.config in modules
    assert {m.FFMPEG_BINARY for m in modules} == {binary}


def test_moviepy_imported_later_uses_our_ffmpeg() -> None:
    # A worker process that imports MoviePy after use_for_moviepy() must get the same binary.
    code = (
        "from impls.ffmpeg.tools import use_for_moviepy; b = use_for_moviepy();"
        "import moviepy.video.io.ffmpeg_writer as w, moviepy.audio.io.ffmpeg_audiowriter as a;"
        "import json; print(json.dumps([b, w.FFMPEG_BINARY, a.FFMPEG_BINARY]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    ours, writer, audio = json.loads(out.strip().splitlines()[-1])
    assert ours == writer == audio == ffmpeg_binary()


# ---------------------------------------------------------------------------------------------
# Encoders


def test_unknown_encoder_lists_what_is_available() -> None:
    with pytest.raises(EncoderUnavailable, match=r"encoder 'nosuchcodec' is not available .*available: .*libx264") as info:
        check_encoder(EncoderSpec(codec="nosuchcodec"))
    assert "libx264" in info.value.available
    assert set(info.value.available) == video_encoders()


def test_listed_encoder_with_impossible_settings_is_unavailable() -> None:
    # Listed is not working: the trial encode finds a bad preset (as it finds a missing GPU).
    with pytest.raises(EncoderUnavailable, match=r"encoder 'libx264' is not available in this ffmpeg \(.+\)"):
        check_encoder(EncoderSpec(preset="no-such-preset"))
    check_encoder(EncoderSpec())  # the default works


def test_unknown_encoder_fails_a_render_before_writing(tmp_path: Path) -> None:
    job = RenderJob(
        source=ClipSource("harness.workloads.frame_index:make", TINY_FRAME_INDEX),
        output=tmp_path / "out.mp4",
        encoder=EncoderSpec(codec="nosuchcodec"),
    )
    with pytest.raises(EncoderUnavailable, match="available: "):
        get_renderer("baseline").render(job)
    assert list(tmp_path.iterdir()) == []


def test_encoder_arguments_and_exact_rate() -> None:
    spec = EncoderSpec(codec="libx264", preset="fast", crf=20, pix_fmt="yuv420p", threads=2, extra=("-g", "12"))
    assert encoder_args(spec) == [
        "-c:v", "libx264", "-preset", "fast", "-crf", "20", "-pix_fmt", "yuv420p",
        "-threads", "2", "-g", "12",
    ]  # fmt: skip
    assert rate_arg(Fraction(30000, 1001)) == "30000/1001"
    assert rate_arg(Fraction(25)) == "25/1"


@pytest.mark.parametrize(
    ("encoder", "codec"),
    [("libx264", "h264"), ("mpeg4", "mpeg4"), ("h264", "h264"), ("not-an-encoder", None)],
    ids=str,
)
def test_codec_of_encoder(encoder: str, codec: str | None) -> None:
    assert codec_of_encoder(encoder) == codec


# ---------------------------------------------------------------------------------------------
# Running and writing


def test_failure_carries_exit_status_and_stderr(tmp_path: Path) -> None:
    with pytest.raises(FFmpegError, match="probing nothing failed \\(exit status") as info:
        run(["-i", str(tmp_path / "absent.mp4"), "-f", "null", "-"], "probing nothing")
    assert info.value.returncode not in (0, None)
    assert "No such file or directory" in info.value.stderr
    assert "No such file or directory" in str(info.value)


def test_frame_writer_writes_every_frame_at_the_exact_rate(tmp_path: Path) -> None:
    path = write_frames(tmp_path / "w.mp4", range(12), Fraction(30000, 1001))
    facts = probe_video(path)
    assert (facts.frames, facts.rate, facts.width, facts.height) == (12, Fraction(30000, 1001), 64, 64)
    assert facts.audio_codec is None


def test_frame_writer_rejects_a_frame_of_another_size(tmp_path: Path) -> None:
    fmt = RawFormat(64, 64, Fraction(30))
    before = child_pids()
    with pytest.raises(InvalidJob, match=r"frame 0 has 6144 bytes, expected 12288 \(64x64 rgb24\)"):
        with FrameWriter(tmp_path / "w.mp4", fmt, ULTRAFAST) as writer:
            writer.write(np.zeros((32, 64, 3), np.uint8))
    assert child_pids() <= before  # the ffmpeg was killed and reaped


def test_frame_writer_reports_ffmpeg_failure(tmp_path: Path) -> None:
    fmt = RawFormat(64, 64, Fraction(30))
    before = child_pids()
    with pytest.raises(FFmpegError, match="Unrecognized option|exit status") as info:
        with FrameWriter(tmp_path / "w.mp4", fmt, ULTRAFAST, ["-no-such-option"]) as writer:
            for i in range(100):
                writer.write(frame_index.draw(i, 64, 64))
    assert info.value.returncode not in (0, None)
    assert "no-such-option" in info.value.stderr
    assert child_pids() <= before


def test_concat_keeps_an_ntsc_rate_and_the_frames_exact(tmp_path: Path) -> None:
    rate = Fraction(30000, 1001)
    timeline = Timeline.of(2.0, rate)
    lossless = EncoderSpec(preset="ultrafast", crf=0)
    whole = write_frames(tmp_path / "whole.mp4", range(timeline.frames), rate, lossless)
    segments = [
        write_frames(tmp_path / f"seg{k}.mp4", part, rate, lossless)
        for k, part in enumerate(timeline.split(3))
    ]
    joined = tmp_path / "joined.mp4"
    concat(segments, joined, tmp_path)

    facts = probe_video(joined)
    assert facts.frames == timeline.frames
    assert facts.rate == rate  # without exact segment durations: 359/12
    assert facts.duration == pytest.approx(timeline.video_duration, abs=1e-5)
    assert framemd5(joined) == framemd5(whole)
    assert not list(tmp_path.glob("concat-*.txt"))


def test_mux_audio_copies_both_streams(baseline_renders: BaselineRenders, tmp_path: Path) -> None:
    source = baseline_renders.frame_index
    video = tmp_path / "video.mp4"
    run(["-loglevel", "error", "-i", str(source.path), "-map", "0:v", "-c", "copy", str(video)], "split")
    out = tmp_path / "muxed.mp4"
    mux_audio(video, source.path, out)
    facts, original = probe_video(out), probe_video(source.path)
    assert facts.audio_codec == "aac" and facts.audio_duration == original.audio_duration
    assert framemd5(out) == framemd5(source.path)


# ---------------------------------------------------------------------------------------------
# Reading back


def test_rgb_frames_decode_to_their_indices(tmp_path: Path) -> None:
    path = write_frames(tmp_path / "w.mp4", range(20), Fraction(30))
    frames = list(iter_rgb_frames(path, 64, 64))
    assert len(frames) == 20 == len(framemd5(path))
    assert [frame_index.decode(np.frombuffer(f, np.uint8).reshape(64, 64, 3)) for f in frames] == list(range(20))


def test_closing_the_decoder_early_stops_ffmpeg(tmp_path: Path) -> None:
    path = write_frames(tmp_path / "w.mp4", range(20), Fraction(30))
    before = child_pids()
    frames = iter_rgb_frames(path, 64, 64)
    next(frames)
    assert child_pids() - before  # ffmpeg is running
    frames.close()
    assert child_pids() <= before


def test_decoding_garbage_raises(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\0" * 1000)
    with pytest.raises(FFmpegError, match="decoding garbage.mp4"):
        list(iter_rgb_frames(garbage, 64, 64))


# ---------------------------------------------------------------------------------------------
# Files


def test_atomic_output_replaces_only_on_success(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_output(out) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".mp4" and tmp != out
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    assert out.read_bytes() == b"old"
    assert sorted(tmp_path.iterdir()) == [out]

    with pytest.raises(FFmpegError, match="no output file was produced"):
        with atomic_output(out):
            pass
    assert out.read_bytes() == b"old"

    with atomic_output(out) as tmp:
        tmp.write_bytes(b"new")
    assert out.read_bytes() == b"new"
    assert sorted(tmp_path.iterdir()) == [out]


@pytest.mark.parametrize(
    ("name", "message"),
    [("missing/out.mp4", "does not exist"), ("out", "needs a suffix"), ("adir", "is a directory")],
    ids=["missing-dir", "no-suffix", "directory"],
)
def test_bad_output_paths_are_rejected(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "adir").mkdir()
    with pytest.raises(InvalidJob, match=message):
        check_output_path(tmp_path / name)


def test_scratch_dir_is_removed_even_on_error() -> None:
    with pytest.raises(RuntimeError):
        with scratch_dir() as scratch:
            (scratch / "file").write_text("x")
            raise RuntimeError
    assert not scratch.exists()
