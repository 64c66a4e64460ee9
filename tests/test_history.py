"""``renderbench history``: runs in commit order, machines apart, steps marked, a page that links its images."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.history import case_histories, find_files, in_commit_order, load, step_list
from harness.results import load_run

RESULTS = Path(__file__).resolve().parents[1] / "results"


class Page(HTMLParser):
    """What a browser would show and fetch: headings, table cells, image sources."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def info(renderer: str, workers: int, fps: float, machine: str, reference_fps: float) -> dict[str, Any]:
    return {
        "renderer": renderer, "workers": workers, "encoder": "libx264:medium:23", "workload": "slideshow",
        "preset": "full", "executor": "local", "frames": 300, "fps": fps, "fps_all": [fps * 0.98, fps, fps * 1.02],
        "speedup": fps / reference_fps, "valid": True, "reference": "baseline",
        "machine": {"cores": 2, "cpu_model": machine},
    }  # fmt: skip


def save(folder: Path, number: int, commit: str, hour: int, chunk_fps: float, machine: str = "AMD EPYC", dirty: bool = False) -> None:
    baseline = 5.0 + 0.05 * (number % 3)
    data = {
        "machine_info": {"node": "vm"},
        "commit_info": {"id": commit * 40, "time": f"2026-11-28T{hour:02d}:00:00+00:00", "dirty": dirty},
        "datetime": f"2026-11-29T{number:02d}:00:00+00:00",
        "benchmarks": [
            {"name": "test_render[baseline]", "extra_info": info("baseline", 1, baseline, machine, baseline)},
            {"name": "test_render[chunk]", "extra_info": info("chunk", 2, chunk_fps, machine, baseline)},
        ],
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{number:04d}_run.json").write_text(json.dumps(data))


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    """Nine runs on one machine (chunk 25 % slower from the sixth commit on), two on another."""
    place = tmp_path / "history"
    # Saved out of commit order: file 1 measured the newest commit.
    hours = [9, 1, 2, 3, 4, 5, 6, 7, 8]
    for number, hour in enumerate(hours, start=1):
        fps = 8.0 if hour <= 5 else 6.0
        save(place / "Linux-CPython-3.11-64bit", number, str(hour), hour, fps * (1 + 0.01 * (hour % 2)), dirty=hour == 9)
    save(place / "other", 10, "f", 10, 20.0, machine="Intel Xeon")
    save(place / "other", 11, "e", 11, 21.0, machine="Intel Xeon")
    (place / "notes.json").write_text('{"not": "a run"}')
    return place


def test_runs_in_commit_order_machines_apart_steps_found(storage: Path) -> None:
    runs, notes = load(find_files([storage]))
    assert len(runs) == 11 and notes == [f"{storage / 'notes.json'}: skipped (not a pytest-benchmark results file (no 'benchmarks' list))"]
    ordered = in_commit_order(runs)
    assert [r.label for r in ordered[:3]] == ["1111111", "2222222", "3333333"]
    assert ordered[8].label == "9999999+"  # measured with uncommitted changes
    histories = case_histories(runs)
    assert list(histories) == ["AMD EPYC, 2 cores", "Intel Xeon, 2 cores"]
    chunk = next(h for h in histories["AMD EPYC, 2 cores"] if h.name.startswith("chunk"))
    assert chunk.name == "chunk-w2-libx264:medium:23-slideshow (full)" and len(chunk.points) == 9
    (step,) = step_list(chunk)
    assert chunk.points[step.index].run.label == "6666666" and step.change == pytest.approx(-0.25, abs=0.02)
    baseline = next(h for h in histories["AMD EPYC, 2 cores"] if h.name.startswith("baseline"))
    assert step_list(baseline) == []  # 1-2 % wobble is not a step


def test_page_names_every_case_and_links_existing_images(storage: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "page"
    assert main(["history", str(storage), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"{out / 'index.html'}: 11 runs"
    page = parse(out / "index.html")
    text = " ".join(page.text)
    assert "AMD EPYC, 2 cores" in text and "Intel Xeon, 2 cores" in text
    assert "-25 % fps at 6666666" in text and "-25 % speedup at 6666666" in text
    assert len(page.images) == 4  # two cases on each machine
    for source in page.images:
        assert (out / source).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert main(["history", str(tmp_path / "nothing-here"), "-o", str(out)]) == 2
    assert "no renderbench runs in" in capsys.readouterr().err


def test_page_of_the_committed_results(tmp_path: Path) -> None:
    out = tmp_path / "committed"
    assert main(["history", str(RESULTS), "-o", str(out)]) == 0
    page = parse(out / "index.html")
    text = " ".join(page.text)
    names = {
        f"{row.case_id} ({row.preset})"
        for path in RESULTS.rglob("benchmark.json")
        for row in load_run(path).rows
    }
    assert names and all(name in text for name in names)
    assert len(page.images) == len(set(page.images)) >= len(names)
    assert all((out / source).is_file() for source in page.images)
