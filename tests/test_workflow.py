"""The CI workflow file: what it installs and runs is valid, the README shows it as it is, and the
false-alarm check in results/gate-check/ measures the gate it runs."""

from __future__ import annotations

import argparse
import ast
import shlex
from pathlib import Path
from typing import Any

import pytest

from harness.options import PREFIX, OptionSpec, add_gate_options, add_matrix_options, add_output_options, parse_settings

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "fps-gate.yml"
GATE_CHECK = ROOT / "results" / "gate-check"


def test_readme_shows_the_workflow_file_as_it_is() -> None:
    assert "```yaml\n" + WORKFLOW.read_text(encoding="utf-8") + "```" in (ROOT / "README.md").read_text(encoding="utf-8")


def _check_defaults() -> dict[str, Any]:
    """``RENDERER, WORKERS, ROUNDS, WARMUP = ...`` of the false-alarm check's script."""
    tree = ast.parse((GATE_CHECK / "run.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple):
            names = [t.id for t in node.targets[0].elts if isinstance(t, ast.Name)]
            if names == ["RENDERER", "WORKERS", "ROUNDS", "WARMUP"]:
                return dict(zip(names, ast.literal_eval(node.value), strict=True))
    raise AssertionError("run.py does not say which gate it checks")


def test_workflow_installs_what_a_runner_lacks_and_runs_the_gate_the_check_measures() -> None:
    yaml = pytest.importorskip("yaml")
    flow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    steps: list[dict[str, Any]] = flow["jobs"]["gate"]["steps"]
    commands = [str(step["run"]) for step in steps if "run" in step]
    assert any("apt-get install" in c and "ffmpeg" in c and "libcairo2-dev" in c and "libpango1.0-dev" in c for c in commands)
    assert "make setup" in commands

    argv = shlex.split(next(c for c in commands if "bench_gate.py" in c))
    assert argv[:2] == [".venv/bin/pytest", "results/gate-check/bench_gate.py"]
    assert (ROOT / argv[1]).is_file()
    # The options as pytest reads them (the plugin adds them with the same functions).
    parser = argparse.ArgumentParser()
    for add in (add_matrix_options, add_output_options, add_gate_options):
        add(parser.add_argument)
    parser.add_argument("--benchmark-json")
    given, rest = parser.parse_known_args(argv[2:])
    assert rest == ["-p", "no:cacheprovider"]

    def lookup(spec: OptionSpec) -> Any:
        return getattr(given, spec.dest(PREFIX))

    settings = parse_settings(lookup, cores=2)
    check = _check_defaults()
    assert settings.renderers == (check["RENDERER"],) and settings.workers == (check["WORKERS"],)
    assert settings.rounds == check["ROUNDS"] and settings.warmup == check["WARMUP"] and settings.interleave
    (rule,) = settings.min_speedup
    assert rule.renderer == check["RENDERER"] and rule.workers is None and rule.minimum > 1

    upload = next(step for step in steps if str(step.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and Path(upload["with"]["path"]) == settings.results_dir
    assert Path(given.benchmark_json).parent == settings.results_dir
