"""Quality figures of an output (PSNR, SSIM, bitrate) and what the report and plots make of them.

Real ffmpeg on tiny gradient clips for the measurements; canned rows for the frontier, the
picks, the tables and the plots (pure functions).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from harness import report, validate
from harness.decode import Quality, probe, video_digest
from harness.plot import frontier_plot, write_plots
from harness.references import SOURCE_ENCODER, source_encoder
from harness.validate import probe_video, psnr, quality
from harness.workloads import gradient
from impls.ffmpeg.command import RawFormat
from impls.ffmpeg.process import FrameWriter, run
from impls.model.protocol import EncoderSpec
from impls.model.results import PSNR_CAP, Row

WIDTH, HEIGHT, FRAMES, RATE = 128, 72, 20, Fraction(30)
LOSSLESS_MKV = SOURCE_ENCODER


def _encode(path: Path, encoder: EncoderSpec) -> Path:
    """The tiny gradient's frames, straight from memory into ``path`` with ``encoder``."""
    base = gradient.base_frame(WIDTH, HEIGHT)
    fmt = RawFormat(WIDTH, HEIGHT, RATE)
    with FrameWriter(path, fmt, encoder) as writer:
        for index in range(FRAMES):
            writer.write(gradient.draw(index, base))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("quality")
    return {
        "source": _encode(out / "source.mkv", LOSSLESS_MKV),
        # The same lossless frames in MP4, whose time base (1/15360) rounds frame times
        # differently from Matroska's milliseconds.
        "source_mp4": _encode(out / "source.mp4", LOSSLESS_MKV),
        "good": _encode(out / "good.mp4", EncoderSpec(preset="ultrafast", crf=18)),
        "degraded": _encode(out / "degraded.mp4", EncoderSpec(preset="ultrafast", crf=45)),
    }


def test_an_identical_file_scores_as_identical(clips: dict[str, Path]) -> None:
    measured = quality(clips["source"], clips["source"])
    assert measured.psnr == math.inf and measured.ssim == 1.0
    assert psnr(clips["source"], clips["source"]) == math.inf
    assert quality(clips["source"], clips["source"]).ssim == 1.0


def test_the_same_frames_in_another_container_score_as_identical(clips: dict[str, Path]) -> None:
    # Paired by timestamp, every third frame would meet its neighbour here (~7 dB lost).
    measured = quality(clips["source_mp4"], clips["source"])
    assert (measured.psnr, measured.ssim) == (math.inf, 1.0)
    assert _psnr_alone(clips["source_mp4"], clips["source"]) == math.inf


def test_identical_video_packets_are_scored_once(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = quality(clips["good"], clips["source"])
    # The same packets remuxed into another container: same digest, the score is reused.
    remuxed = tmp_path / "good.mkv"
    run(["-loglevel", "error", "-i", str(clips["good"]), "-c", "copy", str(remuxed)], "remux")
    assert video_digest(remuxed) == video_digest(clips["good"])
    assert video_digest(clips["degraded"]) != video_digest(clips["good"])

    def no_decoding(*args: object, **kwargs: object) -> Quality:
        raise AssertionError("scored again")

    monkeypatch.setattr(validate, "compare", no_decoding)
    assert quality(remuxed, clips["source"]) == first
    assert psnr(remuxed, clips["source"]) == first.psnr
    # Other packets, or another reference, are measured.
    with pytest.raises(AssertionError, match="scored again"):
        quality(clips["degraded"], clips["source"])
    with pytest.raises(AssertionError, match="scored again"):
        quality(clips["good"], clips["source_mp4"])


def _psnr_alone(path: Path, reference: Path) -> float:
    """ffmpeg's psnr filter on its own, frames paired by index as :func:`quality` pairs them."""
    alone = run(
        ["-loglevel", "info", "-nostats", "-i", str(path), "-i", str(reference),
         "-lavfi", "[0:v]settb=1/1000,setpts=N[a];[1:v]settb=1/1000,setpts=N[b];[a][b]psnr", "-f", "null", "-"],
        "psnr alone",
        output="stderr",
    )  # fmt: skip
    found = re.findall(r"average:(\S+)", alone)
    assert found
    return float(found[-1])


def test_a_degraded_file_scores_lower(clips: dict[str, Path]) -> None:
    good = quality(clips["good"], clips["source"])
    bad = quality(clips["degraded"], clips["source"])
    assert math.isfinite(good.psnr) and 0 < bad.psnr < good.psnr
    assert 0 < bad.ssim < good.ssim < 1.0


def test_one_pass_gives_what_each_filter_gives_alone(clips: dict[str, Path]) -> None:
    measured = quality(clips["degraded"], clips["source"])
    assert measured.psnr == _psnr_alone(clips["degraded"], clips["source"])
    # ssim on its own, frames paired by index the same way.
    alone = run(
        ["-loglevel", "info", "-nostats", "-i", str(clips["degraded"]), "-i", str(clips["source"]),
         "-lavfi", "[0:v]settb=1/1000,setpts=N[a];[1:v]settb=1/1000,setpts=N[b];[a][b]ssim", "-f", "null", "-"],
        "ssim alone",
        output="stderr",
    )  # fmt: skip
    found = re.findall(r"All:(\S+)", alone)
    assert found and measured.ssim == float(found[-1])


def test_bitrate_matches_file_size(clips: dict[str, Path]) -> None:
    path = clips["good"]
    facts = probe_video(path)
    assert facts.bitrate == path.stat().st_size * 8 / facts.duration
    assert facts.duration == pytest.approx(FRAMES / RATE, abs=1e-3)
    # ffprobe's own figure for the container (bytes over the format's duration).
    stated = float(probe(path)["format"]["bit_rate"])
    assert facts.bitrate == pytest.approx(stated, rel=0.01)


def test_a_prores_output_is_compared_in_its_own_pixel_format(tmp_path: Path) -> None:
    prores = EncoderSpec.parse("prores_ks")
    assert source_encoder("yuv420p") is SOURCE_ENCODER
    assert source_encoder(prores.pix_fmt) == EncoderSpec(codec="ffv1", preset=None, crf=None, pix_fmt="yuv422p10le")
    output = _encode(tmp_path / "out.mov", prores)
    own = _encode(tmp_path / "source-422.mkv", source_encoder(prores.pix_fmt))
    subsampled = _encode(tmp_path / "source-420.mkv", SOURCE_ENCODER)
    assert probe_video(own).pix_fmt == "yuv422p10le"
    # Against a 4:2:0 reference the output would be charged for the reference's chroma loss.
    assert quality(output, own).psnr > quality(output, subsampled).psnr


# ---------------------------------------------------------------------------------------------
# Rows, tables, the frontier and the picks (canned rows)

ANCHOR = "libx264:medium:23"


def row(renderer: str, encoder: str, fps: float, psnr_db: float | None, bitrate: float | None = 4e6, **kw: object) -> Row:
    base = Row(
        renderer=renderer, workers=1 if renderer == "baseline" else 2, encoder=encoder, workload="slideshow",
        preset="full", executor="local", frames=300, fps=fps, reference="baseline", psnr=psnr_db,
        ssim=None if psnr_db is None else 0.95, bitrate=bitrate,
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


ROWS = [
    row("baseline", ANCHOR, 5.0, 40.0),
    row("chunk", ANCHOR, 8.0, 39.97, 4.1e6),
    row("chunk", "libx264:veryfast:23", 12.0, 39.6, 5e6),
    row("chunk", "libx264:ultrafast:23", 16.0, 38.0, 12e6),  # fastest, but 2 dB worse
    row("chunk", "prores_ks:-:-", 14.0, 52.0, 200e6),  # as good, 50x the bitrate
    row("chunk", "libx265:medium:28", 20.0, 45.0, 1e6, valid=False, problems=("has 299 frames",)),
    row("chunk", "libx264:slow:23", 4.0, 40.1, 3.9e6),
]


def test_pareto_front_keeps_only_undominated_valid_cases() -> None:
    front = report.pareto_front(ROWS)
    assert [(r.encoder, r.renderer) for r in front] == [
        ("prores_ks:-:-", "chunk"),
        ("libx264:ultrafast:23", "chunk"),
    ]  # slow x264 (4 fps, 40.1 dB) is beaten by prores on both; the invalid x265 never counts
    two = [row("chunk", "a", 10.0, 40.0), row("chunk", "b", 5.0, 41.0), row("chunk", "c", 5.0, 40.0)]
    assert [r.encoder for r in report.pareto_front(two)] == ["b", "a"]


def test_fastest_setting_within_half_a_db_of_x264_medium() -> None:
    picks = report.quality_picks(ROWS)
    assert [(p.row.encoder, p.bitrate_ratio) for p in picks] == [("prores_ks:-:-", None), ("libx264:veryfast:23", 2.0)]
    first, lean = picks
    assert first.anchor_psnr == 40.0 and first.anchor_row.renderer == "baseline"
    assert lean.describe() == (
        "slideshow (full): fastest setting within 0.5 dB of libx264:medium:23 at no more than 2x its bitrate "
        "(PSNR 40.00 dB with baseline): libx264:veryfast:23 with chunk (2 workers) - 12.00 fps, PSNR 39.60 dB, "
        "SSIM 0.9500, 5.00 Mb/s (1.25x the bitrate); 2.40x the fps of libx264:medium:23 with baseline"
    )
    # Without the mezzanine the first pick needs no second.
    assert [p.row.encoder for p in report.quality_picks([r for r in ROWS if r.encoder != "prores_ks:-:-"])] == [
        "libx264:veryfast:23"
    ]


def test_no_pick_without_the_anchor_or_with_one_setting() -> None:
    without = [r for r in ROWS if r.encoder != ANCHOR]
    assert report.quality_picks(without) == []
    text = "\n".join(report.frontier_markdown(without))
    assert "- libx264:medium:23 was not measured (validly) here" in text
    one_setting = [r for r in ROWS if r.encoder == ANCHOR]
    assert report.quality_picks(one_setting) == [] and report.frontier_markdown(one_setting) == []


def test_markdown_has_the_quality_columns_frontier_and_limit_sections() -> None:
    limited = [row("baseline", ANCHOR, 50.0, 44.0, workload="gradient"),
               row("pipe", ANCHOR, 45.0, 44.0, workload="gradient")]  # fmt: skip
    limited = [replace(r, encode_limit_fps=60.0, encode_limit_fraction=r.fps / 60.0) for r in limited]
    text = report.markdown([*ROWS, *limited])
    assert "| renderer | workers | encoder | workload | fps | x ref | CPU % | peak RSS | valid | PSNR | SSIM | bitrate | of limit |" in text
    assert "| chunk | 2 | libx264:veryfast:23 | slideshow | 12.00 | - | 0 | 0 B | yes | 39.60 | 0.9500 | 5.00 Mb/s | - |" in text
    assert "## Speed and quality" in text and "### slideshow (full)" in text
    assert "- slideshow (full): fastest setting within 0.5 dB of libx264:medium:23 (PSNR 40.00 dB" in text
    assert "| prores_ks:-:- | chunk | 2 | 14.00 | 52.00 | 0.9500 | 200.00 Mb/s | yes |" in text
    assert "| libx265:medium:28 | chunk | 2 | 20.00 | 45.00 | 0.9500 | 1.00 Mb/s | invalid |" in text
    assert "## Encode-bound limit" in text
    assert "- gradient (full, libx264:medium:23): ffmpeg alone encodes it at 60.00 fps; baseline w1 83 %, pipe w2 75 %" in text
    # Columns nobody measured stay out of the table.
    plain = report.format_table([replace(r, psnr=None, ssim=None, bitrate=None) for r in ROWS])
    assert plain[0].split()[-1] == "valid"


def test_capped_psnr_shows_as_inf_and_figures_format() -> None:
    assert report.format_psnr(PSNR_CAP) == "inf" and report.format_psnr(38.123) == "38.12"
    assert report.format_bitrate(1_234_567) == "1.23 Mb/s" and report.format_bitrate(900) == "900 b/s"
    assert report.format_fraction(0.934) == "93 %" and report.format_ssim(None) == "-"


def test_frontier_plot_is_written_only_with_two_settings(tmp_path: Path) -> None:
    written = write_plots(ROWS, tmp_path / "plots", cores=2)
    frontier = tmp_path / "plots" / "slideshow-full-frontier.png"
    assert frontier in written and frontier.read_bytes()[:4] == b"\x89PNG"
    one = write_plots([r for r in ROWS if r.encoder == ANCHOR], tmp_path / "one", cores=2)
    assert not [p for p in one if p.name.endswith("frontier.png")]
    # With the encode-bound limit of each encoder drawn too.
    limited = [replace(r, encode_limit_fps=30.0) for r in ROWS]
    path = frontier_plot(limited, tmp_path / "limited.png", "limits")
    assert path.stat().st_size > 5000


def test_saved_rows_carry_the_new_fields_and_old_ones_load() -> None:
    info = {"renderer": "chunk", "workers": 2, "encoder": ANCHOR, "workload": "gradient", "fps": 40.0,
            "psnr": 44.5, "ssim": 0.99, "bitrate": 2e5, "encode_limit_fps": 50.0, "encode_limit_fraction": 0.8}  # fmt: skip
    loaded = Row.from_info(json.loads(json.dumps(info)))
    assert (loaded.psnr, loaded.ssim, loaded.bitrate, loaded.encode_limit_fps, loaded.encode_limit_fraction) == (
        44.5, 0.99, 2e5, 50.0, 0.8
    )
    old = Row.from_info({k: v for k, v in info.items() if k in {"renderer", "workers", "encoder", "workload", "fps"}})
    assert (old.psnr, old.ssim, old.bitrate, old.encode_limit_fps) == (None, None, None, None)
