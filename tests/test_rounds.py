"""Rounds as test items: ids, the interleaved order, and folding them into one benchmark entry."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.rounds import Slot, fold_benchmark_stats, round_id, schedule


def test_round_ids_keep_the_case_id_for_round_one() -> None:
    assert round_id("chunk-w2-libx264:medium:23-slideshow", 1) == "chunk-w2-libx264:medium:23-slideshow"
    assert round_id("chunk-w2-libx264:medium:23-slideshow", 3) == "chunk-w2-libx264:medium:23-slideshow-round3"


# Two groups generated case by case, rounds back to back; in group B the reference came last.
SLOTS = [
    Slot("A", True, 1), Slot("A", True, 2),
    Slot("A", False, 1), Slot("A", False, 2),
    Slot("B", False, 1), Slot("B", False, 2),
    Slot("B", True, 1), Slot("B", True, 2),
]  # fmt: skip


def test_interleaved_schedule_runs_round_one_of_everything_first_references_leading() -> None:
    order = [SLOTS[i] for i in schedule(SLOTS, interleave=True)]
    assert order == [
        Slot("A", True, 1), Slot("A", False, 1), Slot("B", True, 1), Slot("B", False, 1),
        Slot("A", True, 2), Slot("A", False, 2), Slot("B", True, 2), Slot("B", False, 2),
    ]  # fmt: skip


def test_back_to_back_schedule_keeps_each_cases_rounds_together() -> None:
    order = [SLOTS[i] for i in schedule(SLOTS, interleave=False)]
    assert order == [
        Slot("A", True, 1), Slot("A", True, 2), Slot("A", False, 1), Slot("A", False, 2),
        Slot("B", True, 1), Slot("B", True, 2), Slot("B", False, 1), Slot("B", False, 2),
    ]  # fmt: skip


@dataclass
class FakeStats:
    data: list[float] = field(default_factory=list)

    def update(self, duration: float) -> None:
        self.data.append(duration)


@dataclass
class FakeFixture:
    has_error: bool = False


@dataclass
class FakeEntry:
    """The parts of pytest-benchmark's ``Metadata`` that folding touches."""

    stats: FakeStats
    fixture: FakeFixture = field(default_factory=FakeFixture)


def test_fold_moves_later_rounds_into_the_first_entry_and_hides_them() -> None:
    rounds = [FakeEntry(FakeStats([1.0])), FakeEntry(FakeStats([1.2])), FakeEntry(FakeStats([0.9]))]
    single = [FakeEntry(FakeStats([2.0]))]
    fold_benchmark_stats({"chunk": rounds, "baseline": single})
    assert rounds[0].stats.data == [1.0, 1.2, 0.9] and not rounds[0].fixture.has_error
    assert [(r.stats.data, r.fixture.has_error) for r in rounds[1:]] == [([], True), ([], True)]
    assert single[0].stats.data == [2.0] and not single[0].fixture.has_error
