"""``manim-inflight``: manim's own answer, as a peer to compare with.

One manim process renders every scene, one after another, with ``--max-inflight-encoders N``
(``options["encoders"]``, default ``workers``): animations' partial movies are encoded on
background encoders while the next animation renders. The scenes' videos are then assembled
exactly like the other Manim renderers' (held frames, join, one audio track).

Only manims that have the flag can run it (the renderer's ``unavailable_reason`` says why not,
and it does not support a source then). One process means one timeout for all scenes
(``job.timeout`` per scene times the number of scenes), and a failing scene stops manim: the
scenes after it are reported as not rendered.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from impls.errors import SceneFailed
from impls.manim import cli
from impls.manim.preflight import ParallelOptions
from impls.manim.render import ManimRenderer, SceneRun
from impls.model.options import integer

FLAG = "--max-inflight-encoders"


@dataclasses.dataclass(frozen=True)
class InflightOptions(ParallelOptions):
    encoders: int | None = integer()  # None: the job's workers


def _flag_missing(python: str) -> str | None:
    if not cli.has_option(python, FLAG):
        return f"the installed manim has no {FLAG} option (manim render --help does not list it)"
    return None


def _render_scenes(run: SceneRun[InflightOptions]) -> None:
    plan = run.plan
    count = run.options.encoders or plan.workers
    timeout = plan.timeout * len(plan.scenes)
    media = run.work / "media"
    tex_cache = None if run.tex_cache is None else str(run.tex_cache)
    cmd = plan.command(
        media, extra=[*plan.encoder_options, FLAG, str(count)], entry=cli.render_entry(tex_cache)
    )
    with run.stages.timed("render"):
        result = run.processes.run(cmd, cwd=str(plan.script.parent), timeout=timeout)
    cli.check_space(result, media, f"manim rendering scenes {', '.join(plan.scenes)}")
    run.info.update(encoders=count, processes=1)
    failed = result.timed_out or result.returncode != 0
    culprit: str | None = None
    moved: dict[str, Path] = {}  # a scene listed twice has one video
    for index, scene in enumerate(plan.scenes):
        video = moved.get(scene) or cli.find_output(media, scene)
        if video is not None and (not failed or culprit is None):
            dest = run.work / f"scene-{index:04d}{video.suffix}"
            if scene in moved:
                shutil.copyfile(video, dest)
            else:
                video.replace(dest)
                moved[scene] = dest
            run.add(index, run.clip(scene, [dest]))
        elif culprit is None:
            # manim renders the scenes in the order given and stops at the first
            # failure: the first scene without a video is the one that failed.
            culprit = scene
            run.fail(
                index,
                cli.failure(scene, result, timeout)
                if failed
                else SceneFailed(
                    scene, "manim wrote neither a video nor a picture", stdout=result.stdout
                ),
            )
        else:
            run.fail(index, SceneFailed(scene, f"not rendered: manim stopped when scene {culprit} failed"))


renderer = ManimRenderer("manim-inflight", InflightOptions, _render_scenes, needs=_flag_missing)
