"""``manim-ranges``: parallelism inside a scene, by ranges of its animations.

A scene's animations are split into contiguous ranges, each rendered by its own manim process
with ``-n start,end`` (0-based, both ends included; manim fast-forwards the animations before
``start`` and stops after ``end``), and the range videos are joined without re-encoding.

- Frames per animation come from a counting pass (:mod:`impls.manim.count`: one manim process
  for all scenes that runs ``construct`` with every animation skipped), so ranges are balanced
  by frames, not by number of animations.
- How many ranges: ``options["parts"]`` per scene if given; otherwise a scene gets
  ``ceil(frames * workers / total_frames)`` ranges (at most one per animation), i.e. scenes
  are cut to about one worker's share of the whole video; ranges then run longest first.
- Verified: every range must have exactly the frames counted for it, so the joined scene has
  the frame count of the whole-scene render. A scene that cannot be split (one animation, a
  ``wait_until`` whose length is unknown, a failed count) or whose ranges do not verify is
  rendered whole.

A range starts from the state manim reaches by fast-forwarding the animations before it. That
is exact for animations and for updaters that depend on time or on other objects, but an
updater that integrates ``dt`` step by step (e.g. ``rotate(dt)`` accumulated every frame) sees
one large step instead of many: the same caveat as manim's own ``-n``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

from impls.manim.assemble import SceneClip
from impls.manim.count import SceneCount, count_scenes
from impls.manim.preflight import ParallelOptions
from impls.manim.render import ManimRenderer, SceneRun
from impls.model.options import integer


def balanced_ranges(frames: Sequence[int], parts: int) -> list[tuple[int, int]]:
    """Split animations (their frame counts) into at most ``parts`` contiguous ranges.

    Minimises the largest range's frames (exact dynamic programme; scenes have few
    animations). Every range has at least one frame. Ranges are ``(first, last)`` indices,
    both included, as manim's ``-n`` takes them.
    """
    n = len(frames)
    if n == 0:
        return []
    prefix = [0]
    for count in frames:
        prefix.append(prefix[-1] + count)
    parts = max(1, min(parts, n, prefix[-1] or 1))
    inf = math.inf
    # best[k][i]: smallest possible largest range when the first i animations form k ranges.
    best = [[inf] * (n + 1) for _ in range(parts + 1)]
    cut = [[0] * (n + 1) for _ in range(parts + 1)]
    best[0][0] = 0
    for k in range(1, parts + 1):
        for i in range(1, n + 1):
            for j in range(k - 1, i):
                size = prefix[i] - prefix[j]
                if size == 0 and prefix[-1] > 0:
                    continue
                value = max(best[k - 1][j], size)
                if value < best[k][i]:
                    best[k][i] = value
                    cut[k][i] = j
    # Fewest ranges reaching the optimum: more ranges would only add process start-ups.
    target = min(best[k][n] for k in range(1, parts + 1))
    k = min(k for k in range(1, parts + 1) if best[k][n] == target)
    ranges: list[tuple[int, int]] = []
    i = n
    while k > 0:
        j = cut[k][i]
        ranges.append((j, i - 1))
        i, k = j, k - 1
    return ranges[::-1]


@dataclasses.dataclass(frozen=True)
class Unit:
    """One manim process of this renderer: a scene, or a range of its animations."""

    index: int  # position of the scene in the source
    scene: str
    animations: tuple[int, int] | None
    expected: int | None  # frames counted for it, when known


def plan_units(
    scenes: Sequence[str],
    counts: Sequence[SceneCount | None],
    workers: int,
    parts: int | None = None,
) -> list[Unit]:
    """The processes to run, longest first (unknown lengths first of all)."""
    known = [count.total for count in counts if count is not None]
    total = sum(known) or 1
    units: list[Unit] = []
    for index, (scene, count) in enumerate(zip(scenes, counts, strict=True)):
        if count is None or not count.exact or len(count.frames) < 2:
            units.append(Unit(index, scene, None, count.total if count and count.exact else None))
            continue
        wanted = parts if parts is not None else math.ceil(count.total * workers / total)
        ranges = balanced_ranges(count.frames, wanted)
        if len(ranges) < 2:
            units.append(Unit(index, scene, None, count.total))
            continue
        for first, last in ranges:
            units.append(Unit(index, scene, (first, last), sum(count.frames[first : last + 1])))
    return sorted(units, key=lambda unit: -(unit.expected if unit.expected is not None else math.inf))


@dataclasses.dataclass(frozen=True)
class RangesOptions(ParallelOptions):
    parts: int | None = integer()  # ranges per splittable scene; None: by frames (see above)


def _render_scenes(run: SceneRun[RangesOptions]) -> None:
    plan = run.plan
    workers = plan.workers
    with run.stages.timed("count"):
        counts, _ = count_scenes(plan, run.work, run.processes, run.tex_cache)
    with run.stages.timed("render"):
        units = plan_units(plan.scenes, counts, workers, run.options.parts)
        tasks = [
            run.task(unit.scene, f"unit-{n:04d}.mp4", unit.animations)
            for n, unit in enumerate(units)
        ]
        files: dict[int, list[tuple[int, Path]]] = {}
        fallback: list[int] = []
        remaining = {unit.index: 0 for unit in units}
        for unit in units:
            remaining[unit.index] += 1
        for outcome in run.run_tasks(tasks, workers):
            unit = units[outcome.index]
            remaining[unit.index] -= 1
            if outcome.error is not None:
                run.fail(unit.index, outcome.error)
                continue
            assert outcome.video is not None and outcome.video.path is not None
            start = unit.animations[0] if unit.animations else 0
            files.setdefault(unit.index, []).append((start, Path(outcome.video.path)))
            if remaining[unit.index] or unit.index in run.failures:
                continue
            # The scene's last range is in: verify it and hold its last frame while other
            # scenes still render.
            pieces = [path for _, path in sorted(files[unit.index])]
            clip = run.clip(unit.scene, pieces)
            if _verified(clip, counts[unit.index], units, unit.index):
                run.add(unit.index, clip)
            else:
                fallback.append(unit.index)
        # Render whole what did not verify; the ranges' frames are discarded.
        run.render_whole(fallback, workers, "whole")
    split: dict[str, list[list[int]]] = {}
    for unit in units:
        if unit.animations is not None:
            split.setdefault(unit.scene, []).append(list(unit.animations))
    run.info.update(
        workers=workers, ranges={scene: sorted(r) for scene, r in split.items()},
        processes=len(tasks) + len(fallback) + 1, fallback=[plan.scenes[i] for i in fallback],
    )  # fmt: skip


def _verified(clip: SceneClip, count: SceneCount | None, units: list[Unit], index: int) -> bool:
    """Whether a split scene's ranges have exactly their counted frames.

    Then the joined scene has the frame count of the whole-scene render. A scene rendered
    whole is the whole-scene render, so it needs no check.
    """
    ranges = sorted(
        (unit.animations[0], unit.expected)
        for unit in units
        if unit.index == index and unit.animations is not None
    )
    if not ranges:
        return True
    got = [frames for _, frames in clip.segments]
    return count is not None and got == [frames for _, frames in ranges] and (
        clip.frames == count.total
    )


renderer = ManimRenderer("manim-ranges", RangesOptions, _render_scenes)
