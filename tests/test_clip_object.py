"""A live MoviePy clip as the source: ``render(clip, ...)``, no factory.

The clip is pickled once in the caller (cloudpickle with reducers, :mod:`impls.moviepy.clip_pickle`)
and loaded once by each worker. Lossless renders decode to exactly the frames (and audio) of
MoviePy's own ``write_videofile`` of the same clip, for generated clips and for an edit of a
video file with its audio from another file, on the local pool and on a private Dask cluster
(a running one: ``test_dask.py``). A clip that cannot be sent fails before anything starts,
naming the attribute, and leaves nothing behind.
"""

from __future__ import annotations

import os
import pickle
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from harness.workloads import frame_index, slideshow
from impls import ClipObject, InvalidJob, InvalidSource, RenderJob, UnsendableClip, get_renderer
from impls import render
from impls.ffmpeg.tools import use_for_moviepy
from impls.moviepy import clip_pickle
from tests.dropin_clips import LOSSLESS_MP3, assert_same, edit, make_wav, moviepy_reference
from tests.media import make_video
from tests.renders import TINY_FRAME_INDEX, TINY_SLIDESHOW

_MP_SERVICES = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")


def _descendants() -> set[int]:
    """Child processes and theirs, but for multiprocessing's services and the readers of the
    caller's own clips (MoviePy's ffmpeg reading a media file, started by this process: a
    clip the test holds restarts its reader whenever it reads backwards)."""
    found = set()
    for proc in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(proc.cmdline())
            ours = proc.ppid() == os.getpid()
        except psutil.Error:
            continue
        reader = ours and "image2pipe" in cmdline or ours and " -vn " in cmdline
        if not reader and not any(service in cmdline for service in _MP_SERVICES):
            found.add(proc.pid)
    return found


@pytest.fixture
def leaves_nothing(scratch_root: Path) -> Iterator[None]:
    before = _descendants()
    yield
    assert psutil.wait_procs(
        [psutil.Process(pid) for pid in _descendants() - before if psutil.pid_exists(pid)],
        timeout=15,
    )[1] == []
    assert list(scratch_root.iterdir()) == []


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small video file with a tone (ffmpeg's test pattern) and a WAV to narrate it."""
    folder = tmp_path_factory.mktemp("media")
    return make_video(folder / "source.mp4", "320x180", 3), make_wav(folder / "narration.wav", 3)


@pytest.fixture(scope="module")
def tiny_slideshow(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """The tiny slideshow built in this process, and MoviePy's own render of it."""
    clip = slideshow.make(**TINY_SLIDESHOW)
    return clip, moviepy_reference(clip, tmp_path_factory.mktemp("ref") / "slideshow.mp4")


# ---------------------------------------------------------------------------------------------
# Pickling with reducers


def test_constant_images_travel_as_one_pixel_and_come_back_read_only() -> None:
    from moviepy import ColorClip, CompositeVideoClip, VideoClip

    scratch = np.zeros((180, 320, 3), np.uint8)  # a user's buffer that a frame writes into

    def draw(t: float) -> np.ndarray[Any, Any]:
        scratch[:, : int(10 * t) + 1] = 200
        return scratch

    moving = VideoClip(draw, duration=1).with_fps(10)
    clip = CompositeVideoClip([ColorClip((320, 180), (10, 20, 30), duration=1), moving])
    naive = len(pickle.dumps(clip.clips[0].img)) + len(pickle.dumps(clip.bg.img))
    payload = clip_pickle.dump(clip)
    assert payload.constants >= 3 and payload.bytes < naive / 20
    loaded = clip_pickle.load(payload.data)

    color = loaded.clips[0].img
    assert 0 in color.strides and not color.flags.writeable
    assert np.array_equal(color, clip.clips[0].img) and color.dtype == clip.clips[0].img.dtype
    assert not loaded.bg.img.flags.writeable and np.array_equal(loaded.bg.img, clip.bg.img)
    buffer = loaded.clips[1].frame_function.__closure__[0].cell_contents  # the user's scratch
    assert buffer.flags.writeable and np.array_equal(buffer, scratch)
    for t in (0.0, 0.35, 0.9):
        assert np.array_equal(loaded.get_frame(t), clip.get_frame(t))


def test_an_image_travels_whole() -> None:
    image = np.random.default_rng(0).integers(0, 255, (90, 160, 3), dtype=np.uint8)
    image[0, :] = 7  # constant rows must not fool the check
    assert clip_pickle.constant_pixel(image) is None
    from moviepy import ImageClip

    loaded = clip_pickle.load(clip_pickle.dump(ImageClip(image, duration=1)).data)
    assert np.array_equal(loaded.img, image) and loaded.img.flags.writeable


def test_a_video_file_reader_travels_without_its_process(media: tuple[Path, Path]) -> None:
    from moviepy.video.io.ffmpeg_reader import FFMPEG_VideoReader

    clip = edit(*media)
    payload = clip_pickle.dump(clip)  # plain pickling: "cannot pickle '_thread.lock'"
    loaded = clip_pickle.load(payload.data)
    found = [obj for obj in _walk(loaded) if isinstance(obj, FFMPEG_VideoReader)]
    assert len(found) == 1 and found[0].proc is None  # one reader, shared as in the caller
    for t in (0.0, 0.5, 1.2):
        assert np.array_equal(loaded.get_frame(t), clip.get_frame(t))
    assert found[0].proc is not None  # started by the first read
    assert np.array_equal(
        loaded.audio.to_soundarray(fps=44100)[:2000], clip.audio.to_soundarray(fps=44100)[:2000]
    )
    loaded.close()
    clip.close()


def _walk(obj: Any, seen: set[int] | None = None) -> Iterator[Any]:
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, str | bytes | int | float | np.ndarray):
        return
    seen.add(id(obj))
    yield obj
    children: list[Any] = []
    if isinstance(obj, dict):
        children = list(obj.values())
    elif isinstance(obj, list | tuple):
        children = list(obj)
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith(("moviepy", "impls")):
        children = list(vars(obj).values())
    for child in children:
        yield from _walk(child, seen)


def _with_socket(sock: socket.socket) -> Any:
    from moviepy import ColorClip, CompositeVideoClip, VideoClip

    def frame(t: float) -> np.ndarray[Any, Any]:
        sock.getsockname()
        return np.zeros((90, 160, 3), np.uint8)

    moving = VideoClip(frame, duration=1).with_fps(10)
    return CompositeVideoClip([ColorClip((160, 90), (0, 0, 255), duration=1), moving])


def _in_closure(thing: Any) -> Any:
    from moviepy import VideoClip

    def frame(t: float) -> np.ndarray[Any, Any]:
        assert thing is not None
        return np.zeros((90, 160, 3), np.uint8)

    return VideoClip(frame, duration=1).with_fps(10)


#: What cannot travel: (the clip built around a live resource, the path named, the type named).
UNSENDABLE: dict[str, tuple[Callable[[Any], Any], Callable[[], Any], str, str]] = {
    "socket": (
        _with_socket, socket.socket, "clip.clips[1].frame_function.<closure>.sock", "socket"
    ),
    "lock": (_in_closure, threading.Lock, "clip.frame_function.<closure>.thing", "lock"),
    "generator": (
        _in_closure, lambda: (i for i in range(3)), "clip.frame_function.<closure>.thing",
        "generator",
    ),  # fmt: skip
    "file": (  # cloudpickle sends a file open for reading as its content; not one for writing
        _in_closure, lambda: open(os.devnull, "w"), "clip.frame_function.<closure>.thing",
        "TextIOWrapper",
    ),  # fmt: skip
}


@pytest.mark.parametrize("kind", list(UNSENDABLE), ids=list(UNSENDABLE))
def test_an_unsendable_clip_names_the_attribute(kind: str) -> None:
    build, resource, path, what = UNSENDABLE[kind]
    thing = resource()
    try:
        with pytest.raises(UnsendableClip) as caught:
            clip_pickle.dump(build(thing))
    finally:
        if hasattr(thing, "close"):
            thing.close()
    message = str(caught.value)
    assert caught.value.path == path
    assert f"{path} is " in message and what in message and "factory" in message
    assert "\n" not in message


@pytest.mark.parametrize("executor", ["local", "dask"])
@pytest.mark.usefixtures("leaves_nothing")
def test_an_unsendable_clip_fails_before_anything_starts(tmp_path: Path, executor: str) -> None:
    output = tmp_path / "out.mp4"
    with socket.socket() as sock, pytest.raises(UnsendableClip, match=r"\.<closure>\.sock is"):
        render(
            _with_socket(sock), output, method="chunk", workers=2, executor=executor,
            progress=False,
        )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scratch"]


def test_a_non_clip_is_refused() -> None:
    from moviepy import AudioClip

    with pytest.raises(InvalidSource, match="not a MoviePy VideoClip"):
        render(AudioClip(lambda t: 0 * t, duration=1), "out.mp4")
    with pytest.raises(InvalidSource, match="duration"):
        ClipObject(_in_closure(1).with_duration(None))


def test_a_clip_object_is_not_pickled_as_a_source() -> None:
    with pytest.raises(InvalidSource, match="not pickled as a source"):
        pickle.dumps(ClipObject(_in_closure(1)))


# ---------------------------------------------------------------------------------------------
# Renders equal MoviePy's write_videofile


@pytest.mark.parametrize("method", ["chunk", "pipe", "disk"])
@pytest.mark.usefixtures("leaves_nothing")
def test_a_clip_object_renders_moviepys_frames(
    tiny_slideshow: tuple[Any, Path], tmp_path: Path, method: str
) -> None:
    clip, reference = tiny_slideshow
    output = tmp_path / f"{method}.mp4"
    result = render(clip, output, method=method, workers=2, encoder=LOSSLESS_MP3, progress=False)
    assert_same(output, reference)
    transfer = result.info["clip_transfer"]
    assert transfer["delivery"] == "file" and transfer["bytes"] > 0
    assert 1 <= len(transfer["load_s_per_worker"]) <= 2  # each worker loaded it once
    assert result.stages["transfer"] == pytest.approx(transfer["dump_s"] + transfer["send_s"], abs=1e-5)
    assert clip.get_frame(0.5).shape == (90, 160, 3)  # the caller's clip: still open, unchanged


def test_every_worker_loads_the_clip_once(tmp_path: Path) -> None:
    clip = frame_index.make(**TINY_FRAME_INDEX)
    reference = moviepy_reference(clip, tmp_path / "ref.mp4")
    job = RenderJob(
        source=ClipObject(clip), output=tmp_path / "pipe.mp4", workers=2, encoder=LOSSLESS_MP3
    )
    result = get_renderer("pipe").render(job)  # a renderer called directly takes it too
    assert_same(job.output, reference)
    loads = result.info["clip_transfer"]["load_s_per_worker"]
    assert len(loads) == 2 and result.frames == 30  # 30 frames, 2 workers: 2 loads


def test_the_payload_compressed_as_asked(tmp_path: Path) -> None:
    clip = frame_index.make(**TINY_FRAME_INDEX)
    reference = moviepy_reference(clip, tmp_path / "ref.mp4")
    output = tmp_path / "zlib.mp4"
    result = render(
        clip, output, method="chunk", workers=2, encoder=LOSSLESS_MP3, progress=False,
        options={"clip_compression": "zlib"},
    )  # fmt: skip
    assert_same(output, reference)
    transfer = result.info["clip_transfer"]
    assert transfer["compressed"] and transfer["bytes"] < transfer["raw_bytes"]
    assert not clip_pickle.dump(clip, compression="none").compressed
    with pytest.raises(InvalidJob, match="'clip_compression' must be one of zlib, none"):
        render(clip, output, method="chunk", options={"clip_compression": "lz4"})
    with pytest.raises(InvalidJob, match="'clip_compression' applies to a clip object"):
        render(
            "harness.workloads.frame_index:make", output, method="chunk",
            options={"clip_compression": "zlib"}, kwargs=TINY_FRAME_INDEX,
        )  # fmt: skip


@pytest.mark.usefixtures("leaves_nothing")
def test_an_edit_of_a_video_file_with_audio_from_a_file(
    media: tuple[Path, Path], tmp_path: Path
) -> None:
    clip = edit(*media)
    reference = moviepy_reference(clip, tmp_path / "ref.mp4")
    output = tmp_path / "chunk.mp4"
    render(clip, output, method="chunk", workers=2, encoder=LOSSLESS_MP3, progress=False)
    assert_same(output, reference)
    clip.close()


@pytest.mark.slow
@pytest.mark.usefixtures("leaves_nothing")
def test_an_edit_of_a_video_file_on_a_private_dask_cluster(
    media: tuple[Path, Path], tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    clip = edit(*media)
    reference = moviepy_reference(clip, tmp_path / "ref.mp4")
    output = tmp_path / "dask.mp4"
    result = render(
        clip, output, method="chunk", workers=2, encoder=LOSSLESS_MP3, executor="dask",
        progress=False,
    )  # fmt: skip
    assert_same(output, reference)
    transfer = result.info["clip_transfer"]
    assert transfer["delivery"] == "published" and 1 <= len(transfer["load_s_per_worker"]) <= 2
    clip.close()


def test_the_benchmark_workload_renders_the_slideshow_as_a_clip_object(tmp_path: Path) -> None:
    from harness.workloads.presets import workload

    as_object = workload("slideshow_object", "smoke", lambda: tmp_path)
    factory = workload("slideshow", "smoke", lambda: tmp_path)
    assert isinstance(as_object.source, ClipObject) and as_object.source.clip is not None
    outputs = []
    for load in (factory, as_object):
        assert load.source is not None
        job = RenderJob(load.source, tmp_path / f"{load.name}.mp4", workers=2, encoder=LOSSLESS_MP3)
        result = get_renderer("chunk").render(job)
        outputs.append(job.output)
    assert "clip_transfer" in result.info
    assert_same(outputs[1], outputs[0])


def test_a_reader_that_dies_in_a_worker_is_reopened(media: tuple[Path, Path], tmp_path: Path) -> None:
    """The workers' readers are guarded like a factory's: a SIGKILLed one is retried with the
    clip loaded anew (fresh readers), and the output equals a clean render."""
    from tests.faulty_clips import reader_dies

    use_for_moviepy()  # the readers built here decode with the renderers' ffmpeg
    video = make_video(tmp_path / "source.mp4", "160x90", 2)
    clean_marker = tmp_path / "no-kill"
    clean_marker.touch()
    clean = reader_dies(str(video), str(clean_marker))
    reference = moviepy_reference(clean, tmp_path / "clean.mp4", audio_codec="libmp3lame")
    marker = tmp_path / "killed"
    clip = reader_dies(str(video), str(marker), at=25)
    output = tmp_path / "chunk.mp4"
    result = render(clip, output, method="chunk", workers=2, encoder=LOSSLESS_MP3, progress=False)
    assert marker.exists() and result.retries >= 1
    assert any(str(video) in why and "signal 9" in why for why in result.failures.values())
    assert_same(output, reference)
    clip.close()
    clean.close()
