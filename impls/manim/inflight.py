"""``manim-inflight``: manim's own answer, as a peer to compare with.

One manim process renders every scene, one after another, with ``--max-inflight-encoders N``
(``options["encoders"]``, default ``workers``): animations' partial movies are encoded on
background encoders while the next animation renders. The scenes' videos are then assembled
exactly like the other Manim renderers' (held frames, join, one audio track).

Only manims that have the flag can run it: :meth:`ManimInflightRenderer.unavailable_reason`
says why not, and :meth:`~ManimInflightRenderer.supports` is False then. One process means
one timeout for all scenes (``job.timeout`` per scene times the number of scenes), and a failing
scene stops manim: the scenes after it are reported as not rendered.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import time
from pathlib import Path

from impls.ffmpeg.files import scratch_dir
from impls.errors import InvalidJob, SceneFailed, ToolNotFound
from impls.manim import cli, pool
from impls.manim.assemble import SceneClip, clip_from_files, hold
from impls.manim.preflight import COMMON_OPTIONS, local_only, prepare_manim_job
from impls.model.protocol import ManimSource, RenderJob, RenderResult, Source

FLAG = "--max-inflight-encoders"


class ManimInflightRenderer:
    """All scenes in one manim process with concurrent partial-movie encoders."""

    name = "manim-inflight"
    options = COMMON_OPTIONS | {"encoders"}

    def unavailable_reason(self, python: str | None = None) -> str | None:
        """Why this renderer cannot run with ``python``'s manim (``None`` when it can)."""
        python = python or sys.executable
        if python == sys.executable and importlib.util.find_spec("manim") is None:
            return f"manim is not installed: {cli.MANIM_HINT}"
        if not cli.has_option(python, FLAG):
            return f"the installed manim has no {FLAG} option (manim render --help does not list it)"
        return None

    def supports(self, source: Source) -> bool:
        return isinstance(source, ManimSource) and self.unavailable_reason() is None

    def executor_reason(self, executor: str) -> str | None:
        """Why ``executor`` cannot run this renderer (None: it can)."""
        return local_only(self.name, executor)

    def render(self, job: RenderJob) -> RenderResult:
        started = time.perf_counter()
        encoders = job.options.get("encoders")
        if encoders is not None and (
            not isinstance(encoders, int) or isinstance(encoders, bool) or encoders < 1
        ):
            raise InvalidJob(f"option encoders must be an integer >= 1, got {encoders!r}")
        plan = prepare_manim_job(job, self.options, self.executor_reason)
        reason = self.unavailable_reason(plan.python)
        if reason is not None:
            raise ToolNotFound(f"manim {FLAG}", reason)
        count = encoders if encoders is not None else plan.workers
        timeout = plan.timeout * len(plan.scenes)
        try:
            with scratch_dir("renderbench-manim-") as work:
                media = work / "media"
                cmd = cli.manim_command(
                    plan.python,
                    str(plan.script),
                    plan.scenes,
                    str(media),
                    quality=plan.quality,
                    fps=plan.fps,
                    extra=[*plan.encoder_args, FLAG, str(count)],
                )
                mark = time.perf_counter()
                run = cli.run_manim(
                    cmd, cwd=str(plan.script.parent), timeout=timeout, run_id=plan.run_id
                )
                stages = {"render": time.perf_counter() - mark}
                clips: dict[int, SceneClip] = {}
                failures: dict[int, SceneFailed] = {}
                culprit: str | None = None
                failed = run.timed_out or run.returncode != 0
                moved: dict[str, Path] = {}  # a scene listed twice has one video
                for index, scene in enumerate(plan.scenes):
                    video = moved.get(scene) or cli.find_video(media, scene)
                    if video is not None and (not failed or culprit is None):
                        dest = work / f"scene-{index:04d}.mp4"
                        if scene in moved:
                            shutil.copyfile(video, dest)
                        else:
                            video.replace(dest)
                            moved[scene] = dest
                        clip = hold(clip_from_files(scene, [dest]), plan, job.encoder, work, str(index))
                        clips[index] = clip
                        pool.report_progress(job)(clip.frames + (clip.held or 0))
                    elif culprit is None:
                        # manim renders the scenes in the order given and stops at the first
                        # failure: the first scene without a video is the one that failed.
                        culprit = scene
                        failures[index] = (
                            cli.failure(scene, run, timeout)
                            if failed
                            else SceneFailed(scene, "manim wrote no video for it", stdout=run.stdout)
                        )
                    else:
                        failures[index] = SceneFailed(
                            scene, f"not rendered: manim stopped when scene {culprit} failed"
                        )
                return pool.finish(
                    job, plan, self.name, started, clips, failures, work,
                    stages=stages, info={"encoders": count, "processes": 1},
                )  # fmt: skip
        finally:
            cli.forget_run(plan.run_id)

