"""The CI workflow file: what it installs and runs is valid, and the README shows it as it is."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from harness.cli import build_parser, pytest_args
from harness.options import PREFIX, OptionSpec, parse_settings

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "fps-gate.yml"


def test_readme_shows_the_workflow_file_as_it_is() -> None:
    assert "```yaml\n" + WORKFLOW.read_text(encoding="utf-8") + "```" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_workflow_installs_what_a_runner_lacks_and_runs_a_gate_the_cli_accepts() -> None:
    yaml = pytest.importorskip("yaml")
    flow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    steps: list[dict[str, Any]] = flow["jobs"]["gate"]["steps"]
    commands = [str(step["run"]) for step in steps if "run" in step]
    assert any("apt-get install" in c and "ffmpeg" in c and "libcairo2-dev" in c and "libpango1.0-dev" in c for c in commands)
    assert "make setup" in commands

    argv = shlex.split(next(c for c in commands if "renderbench run" in c))
    assert argv[:2] == [".venv/bin/renderbench", "run"]
    args = build_parser().parse_args(argv[1:])
    given = dict(arg.removeprefix(f"--{PREFIX}").split("=", 1) for arg in pytest_args(args) if arg.startswith(f"--{PREFIX}"))

    def lookup(spec: OptionSpec) -> str | None:
        return given.get(spec.name)

    settings = parse_settings(lookup, cores=2)
    assert settings.preset == "full" and settings.workloads == ("slideshow",) and settings.workers == (2,)
    assert settings.rounds >= 5 and settings.interleave and [str(r) for r in settings.min_speedup] == ["chunk=1.3"]

    upload = next(step for step in steps if str(step.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] == args.results_dir
