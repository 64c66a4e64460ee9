"""Rounds as test items: their ids, the order they run in, and one pytest-benchmark entry per case.

Each round of a case is its own test item: ``test_render[chunk-w2-libx264:medium:23-slideshow]``
is round 1, ``...-slideshow-round2`` round 2 and so on. Items can then be put in any order,
and the order that makes rounds comparable is *interleaved*: round 1 of every case (each
group's reference first), then round 2, ... A machine that slows down half-way (another job,
heat, a frequency change) then slows round *r* of a case and of its reference alike, and the
speedup of the pair stays honest. Without interleaving a case's rounds run back to back.

Every round is timed by its own ``benchmark.pedantic(rounds=1)``; :func:`fold_benchmark_stats`
then moves the later rounds' samples into the first round's entry, so pytest-benchmark's table,
JSON, autosave and ``--benchmark-compare`` see one benchmark per case holding all its rounds,
named as the case (the same name a one-round run gives it).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ROUND_SUFFIX = "-round"


def round_id(case_id: str, number: int) -> str:
    """The test id of round ``number`` (1-based) of ``case_id``: round 1 keeps the case's id."""
    return case_id if number == 1 else f"{case_id}{ROUND_SUFFIX}{number}"


@dataclass(frozen=True)
class Slot:
    """What the order of a renderbench item depends on."""

    group: Hashable  # items of one group share a reference
    is_reference: bool
    round: int


def schedule(slots: Sequence[Slot], interleave: bool) -> list[int]:
    """The order to run ``slots`` in, as indices into ``slots``.

    Groups keep the order they were first seen in, and within a group (and round) the
    reference comes first: other outputs are validated against its output. ``interleave``
    puts round *r* of every item before round *r + 1* of any; otherwise the given order of
    the items of a group is kept (a case's rounds are generated back to back).
    """
    first_seen: dict[Hashable, int] = {}
    for index, slot in enumerate(slots):
        first_seen.setdefault(slot.group, index)

    def key(index: int) -> tuple[int, ...]:
        slot = slots[index]
        within = (first_seen[slot.group], not slot.is_reference, index)
        return (slot.round, *within) if interleave else within

    return sorted(range(len(slots)), key=key)


def fold_benchmark_stats(entries: Mapping[str, Sequence[Any]]) -> None:
    """Give each case's first pytest-benchmark entry the samples of its later rounds.

    ``entries`` maps a case to the ``benchmark.stats`` objects of its rounds, in the order
    they ran. The later entries are emptied and flagged as pytest-benchmark flags a failed
    benchmark, which keeps them out of its table, JSON, autosave and comparisons. Call
    before pytest-benchmark's own ``pytest_sessionfinish``.
    """
    for stats in entries.values():
        if len(stats) < 2:
            continue
        first = stats[0]
        for later in stats[1:]:
            for duration in later.stats.data:
                first.stats.update(duration)
            later.stats.data.clear()
            later.fixture.has_error = True
