"""``impls.write_videofile(clip, ...)``: MoviePy's own call, its parameters and defaults.

Lossless renders (``ffmpeg_params=["-crf", "0"]``, as a MoviePy user asks for it) decode to
exactly the frames and audio of ``clip.write_videofile`` with the same arguments. Every
argument is honoured or refused by name; nothing is left behind on failure.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

import impls
from harness.decode import framemd5
from harness.workloads import slideshow
from impls import InvalidJob, InvalidSource
from impls.videofile import MOVIEPY_DEFAULTS, _Call, _split_params
from tests.dropin_clips import LOSSLESS_PARAMS, assert_same, edit, make_wav, moviepy_reference
from tests.media import make_video
from tests.renders import TINY_SLIDESHOW


@pytest.fixture(scope="module")
def clip() -> Any:
    return slideshow.make(**TINY_SLIDESHOW)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("media")
    return make_video(folder / "source.mp4", "320x180", 3), make_wav(folder / "narration.wav", 3)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in tmp_path (MoviePy writes its temporary audio into the working directory), with
    a private temp root."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "scratch"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return tmp_path


def _left(folder: Path, *expected: str) -> None:
    names = sorted(p.name for p in folder.iterdir() if p.name != "scratch")
    assert names == sorted(expected)
    assert [p for p in (folder / "scratch").iterdir() if not p.name.startswith("pymp-")] == []


def test_the_one_line_change_gives_moviepys_frames_and_audio(clip: Any, in_tmp: Path) -> None:
    reference = moviepy_reference(clip, in_tmp / "moviepy.mp4")
    result = impls.write_videofile(
        clip, "out.mp4", codec="libx264", ffmpeg_params=LOSSLESS_PARAMS, logger=None, workers=2
    )
    assert result.output == Path("out.mp4") and result.info["audio"]
    assert_same(in_tmp / "out.mp4", reference)  # the audio in libmp3lame, as MoviePy's
    assert result.info["write_videofile"]["audio_codec"] == "libmp3lame"
    assert result.info["write_videofile"]["encoder"] == "libx264:medium:0"
    _left(in_tmp, "moviepy.mp4", "out.mp4")  # MoviePy's temporary audio file removed


def test_audio_from_a_file_and_an_fps(media: tuple[Path, Path], in_tmp: Path) -> None:
    video, wav = media
    clip = edit(video)
    arguments: dict[str, Any] = {"audio": str(wav), "fps": 15, "audio_codec": "aac"}
    reference = moviepy_reference(clip, in_tmp / "moviepy.mp4", **arguments)
    impls.write_videofile(
        clip, in_tmp / "out.mp4", codec="libx264", ffmpeg_params=LOSSLESS_PARAMS, logger=None,
        workers=2, method="chunk", **arguments,
    )  # fmt: skip
    assert_same(in_tmp / "out.mp4", reference)
    _left(in_tmp, "moviepy.mp4", "out.mp4")
    clip.close()


@pytest.mark.slow
def test_an_edit_of_a_video_file_on_a_private_dask_cluster(
    media: tuple[Path, Path], in_tmp: Path
) -> None:
    pytest.importorskip("distributed")
    video, wav = media
    clip = edit(video, wav)
    reference = moviepy_reference(clip, in_tmp / "moviepy.mp4")
    result = impls.write_videofile(
        clip, "out.mp4", codec="libx264", ffmpeg_params=LOSSLESS_PARAMS, logger=None, workers=2,
        method="chunk", executor="dask",
    )  # fmt: skip
    assert result.info["clip_transfer"]["delivery"] == "published"
    assert_same(in_tmp / "out.mp4", reference)
    _left(in_tmp, "moviepy.mp4", "out.mp4")
    clip.close()


def test_audio_parameters_and_a_kept_temp_file(clip: Any, in_tmp: Path) -> None:
    arguments: dict[str, Any] = {
        "audio_fps": 22050, "audio_nbytes": 2, "audio_bufsize": 500, "audio_bitrate": "64k",
        "temp_audiofile_path": str(in_tmp), "remove_temp": False,
    }  # fmt: skip
    reference = moviepy_reference(clip, in_tmp / "moviepy.mp4", **arguments)
    kept = in_tmp / "moviepyTEMP_MPY_wvf_snd.mp3"
    assert kept.is_file()  # MoviePy keeps it with remove_temp=False; so must we
    kept.rename(in_tmp / "moviepy.mp3")
    impls.write_videofile(
        clip, "out.mp4", codec="libx264", ffmpeg_params=LOSSLESS_PARAMS, logger=None, workers=2,
        method="pipe", **arguments,
    )  # fmt: skip
    assert (in_tmp / "outTEMP_MPY_wvf_snd.mp3").read_bytes() == (in_tmp / "moviepy.mp3").read_bytes()
    assert_same(in_tmp / "out.mp4", reference)


def test_a_proglog_logger_gets_moviepys_frame_bar(clip: Any, in_tmp: Path) -> None:
    from proglog import ProgressBarLogger

    seen: list[tuple[str, Any]] = []

    class Logger(ProgressBarLogger):  # type: ignore[misc]
        def bars_callback(self, bar: str, attr: str, value: Any, old_value: Any = None) -> None:
            seen.append((f"{bar}.{attr}", value))

    result = impls.write_videofile(clip, "out.mp4", audio=False, logger=Logger(), workers=2)
    assert ("frame_index.total", result.frames) in seen
    assert seen[-1] == ("frame_index.index", result.frames)


def test_method_baseline_is_moviepys_own_call(clip: Any, in_tmp: Path) -> None:
    result = impls.write_videofile(
        clip, "out.mp4", ffmpeg_params=LOSSLESS_PARAMS, logger=None, method="baseline"
    )
    assert result.renderer == "baseline"
    reference = moviepy_reference(clip, in_tmp / "moviepy.mp4")
    assert framemd5(in_tmp / "out.mp4") == framemd5(reference)


# ---------------------------------------------------------------------------------------------
# Refused by name, nothing left


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"codecs": "libx264"}, "unknown argument.*codecs"),
        ({"verbose": False}, "unknown argument.*verbose"),
        ({"write_logfile": True}, "write_logfile=True.*method='baseline'"),
        ({"logger": "tqdm"}, "logger must be"),
        ({"ffmpeg_params": "-crf 0"}, "ffmpeg_params must be a list"),
    ],
    ids=["typo", "moviepy-1-argument", "write_logfile", "logger", "params-string"],
)
def test_what_cannot_be_honoured_is_refused(
    clip: Any, in_tmp: Path, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidJob, match=message):
        impls.write_videofile(clip, "out.mp4", **arguments)
    _left(in_tmp)


def test_a_missing_audio_file_and_a_non_clip(clip: Any, in_tmp: Path) -> None:
    with pytest.raises(InvalidSource, match="audio file missing.wav does not exist"):
        impls.write_videofile(clip, "out.mp4", audio="missing.wav")
    with pytest.raises(InvalidSource, match="needs a MoviePy VideoClip"):
        impls.write_videofile("clip.mp4", "out.mp4")
    _left(in_tmp)


# ---------------------------------------------------------------------------------------------
# Arguments resolved as MoviePy resolves them


@pytest.mark.parametrize(
    ("name", "codec", "audio_codec"),
    [
        ("a.mp4", "libx264", "libmp3lame"),
        ("a.webm", "libvpx", "libvorbis"),
        ("a.ogv", "libtheora", "libvorbis"),
        ("a.mov", "libx264", "libmp3lame"),
    ],
)
def test_codecs_from_the_extension(clip: Any, name: str, codec: str, audio_codec: str) -> None:
    call = _Call(clip, Path(name), _given())
    assert (call.codec, call.audio_codec) == (codec, audio_codec)


def test_an_extension_without_a_codec(clip: Any) -> None:
    with pytest.raises(InvalidJob, match="no codec for the extension '.avi'.*codec="):
        _Call(clip, Path("a.avi"), _given())


def test_pixel_formats_as_moviepy_gets_them(clip: Any) -> None:
    spec = _Call(clip, Path("a.mp4"), _given()).encoder()
    assert (spec.pix_fmt, spec.crf, spec.preset) == ("yuv420p", None, "medium")
    odd = clip.resized((161, 91))
    assert _Call(odd, Path("a.mp4"), _given()).encoder().pix_fmt == "yuv444p"  # ffmpeg's pick
    masked = _Call(clip, Path("a.webm"), _given()).encoder()  # the slideshow has a mask
    assert masked.pix_fmt == "yuva420p" and masked.extra == ("-auto-alt-ref", "0")
    chosen = _Call(clip, Path("a.mp4"), _given(pixel_format="yuv444p")).encoder()
    assert chosen.pix_fmt == "yuv444p"


def test_ffmpeg_params_fill_the_encoder_fields() -> None:
    assert _split_params(["-crf", "18", "-tune", "film", "-pix_fmt", "yuv422p", "-crf", "0"]) == (
        0, "yuv422p", ["-tune", "film"]
    )
    assert _split_params(None) == (None, None, [])


def _given(**overrides: Any) -> dict[str, Any]:
    return {**MOVIEPY_DEFAULTS, **overrides}

