"""How many frames each animation of a scene has, without rendering it.

``manim-ranges`` balances its animation ranges by frames, so it needs every animation's frame
count before anything is rendered. Rendering once to find out (``--dry_run`` still draws every
frame; reading partial movie files needs a finished render) would cost as much as the render.
Instead this runs manim's own CLI on the scenes with ``--format png`` (save the last frame):
manim then skips every animation, executing ``construct`` with each ``play`` fast-forwarded,
while this module records each animation's run time and counts its frames with manim's own
arithmetic:

- a static wait (a frozen frame) writes ``int(duration / (1 / frame_rate))`` frames
  (``CairoRenderer.freeze_current_frame``);
- any other animation writes one frame per ``t`` in ``np.arange(0, run_time, 1 / frame_rate)``
  (``Scene.get_time_progression``).

A wait with a stop condition (``wait_until``) may end early, so its count is marked inexact and
such a scene is rendered whole. Run as ``python -m impls.manim.count RESULT.json [--tex-cache
DIR] <manim render arguments...>`` (``DIR``: see :mod:`impls.manim.tex_cache`): it writes ``[{"scene": name, "animations": [[frames, exact], ...]}, ...]`` in
rendering order (also when a scene fails, for the scenes before it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impls.manim import cli
from impls.manim.preflight import ManimPlan


@dataclass(frozen=True)
class SceneCount:
    """Frames of each animation of one scene; ``exact`` is False when a count may be too high."""

    scene: str
    frames: tuple[int, ...]
    exact: bool

    @property
    def total(self) -> int:
        return sum(self.frames)


def count_scenes(
    plan: ManimPlan, workdir: Path, processes: cli.ManimProcesses, tex_cache: Path | None = None
) -> tuple[list[SceneCount | None], cli.ManimRun]:
    """Count every scene of ``plan`` in one manim process; ``None`` for a scene not counted.

    With ``tex_cache`` the process compiles its Tex strings through that shared cache, so the
    renders after it find them compiled."""
    result = workdir / "counts.json"
    entry = ["-m", "impls.manim.count", str(result)]
    if tex_cache is not None:
        entry += ["--tex-cache", str(tex_cache)]
    cmd = plan.command(workdir / "count-media", output_format="png", entry=entry)
    run = processes.run(cmd, cwd=str(plan.script.parent), timeout=plan.timeout)
    records: list[dict[str, Any]] = []
    if result.exists():
        records = json.loads(result.read_text())
    counts: list[SceneCount | None] = []
    for position, scene in enumerate(plan.scenes):
        record = records[position] if position < len(records) else None
        if record is None or record["scene"] != scene or not record.get("finished"):
            counts.append(None)
            continue
        animations = record["animations"]
        counts.append(
            SceneCount(
                scene,
                tuple(int(frames) for frames, _ in animations),
                all(bool(exact) for _, exact in animations),
            )
        )
    return counts, run


def main(argv: Sequence[str]) -> None:
    """Entry point in the counting process (imports manim; never used in the parent)."""
    import numpy as np
    from manim import config
    from manim.__main__ import main as manim_main
    from manim.renderer.cairo_renderer import CairoRenderer

    result_path, *manim_args = argv
    if manim_args[:1] == ["--tex-cache"]:
        from impls.manim import tex_cache

        tex_cache.install(Path(manim_args[1]))
        manim_args = manim_args[2:]
    records: list[dict[str, Any]] = []
    current: dict[str, int] = {"scene": -1}
    original_play = CairoRenderer.play
    original_finished = CairoRenderer.scene_finished

    def record(renderer: Any, scene: Any) -> dict[str, Any]:
        if current["scene"] != id(scene):
            current["scene"] = id(scene)
            records.append({"scene": type(scene).__name__, "animations": [], "finished": False})
        return records[-1]

    def play(self: Any, scene: Any, *args: Any, **kwargs: Any) -> None:
        original_play(self, scene, *args, **kwargs)
        duration = scene.duration
        if scene.is_current_animation_frozen_frame():
            frames = int(duration / (1 / self.camera.frame_rate))
        else:
            frames = len(np.arange(0, duration, 1 / config["frame_rate"]))
        record(self, scene)["animations"].append([frames, scene.stop_condition is None])

    def scene_finished(self: Any, scene: Any) -> None:
        record(self, scene)["finished"] = True
        original_finished(self, scene)

    CairoRenderer.play = play  # type: ignore[method-assign]
    CairoRenderer.scene_finished = scene_finished  # type: ignore[method-assign]
    try:
        manim_main(args=["render", *manim_args], prog_name="manim")
    finally:
        Path(result_path).write_text(json.dumps(records))


if __name__ == "__main__":
    main(sys.argv[1:])
