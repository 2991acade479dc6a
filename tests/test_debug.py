"""The debug presets (conf/debug/) through the real command line, and the CI workflow
(.github/workflows/ci.yml): valid for actionlint, running the test suite and the smoke sweep."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT, metrics_of, run_cli

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
ACTIONLINT = Path(sys.executable).parent / "actionlint"


def test_smoke_runs_the_whole_pipeline(tmp_path, cache_dir):
    run_dir = tmp_path / "run"
    run = run_cli(["debug=smoke", f"hydra.run.dir={run_dir}"], tmp_path, cache_dir)
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = metrics_of(run_dir)
    assert metrics["status"] == "ok"
    assert metrics["epochs"] == 2
    assert "test/acc" in metrics
    assert "rvsm: method=rvsm" in run.stdout


def test_smoke_sweep_of_ci(tmp_path, cache_dir):
    sweep_dir = tmp_path / "sweep"
    args = ["-m", "debug=smoke", "penalty=l0,tl1", f"hydra.sweep.dir={sweep_dir}"]
    run = run_cli(args, tmp_path, cache_dir)
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = sorted(p.name for p in sweep_dir.iterdir() if p.is_dir())
    assert jobs == ["0", "1"]
    metrics = [metrics_of(sweep_dir / job) for job in jobs]
    assert [m["status"] for m in metrics] == ["ok", "ok"]
    assert [m["penalty"] for m in metrics] == ["l0", "tl1"]


def test_fast_dev_run(tmp_path, cache_dir):
    run = run_cli(["debug=fdr", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, cache_dir)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr


def test_overfit_batches_training_accuracy_rises(tmp_path, cache_dir):
    run_dir = tmp_path / "run"
    run = run_cli(["debug=overfit", f"hydra.run.dir={run_dir}"], tmp_path, cache_dir)
    assert run.returncode == 0, run.stderr[-3000:]
    with open(run_dir / "csv" / "version_0" / "metrics.csv") as f:
        acc = [float(r["train/acc"]) for r in csv.DictReader(f) if r["train/acc"]]
    assert len(acc) == metrics_of(run_dir)["epochs"] > 2
    assert acc[-1] > acc[0]


def test_profiler_writes_its_report_into_the_run_folder(tmp_path, cache_dir):
    run_dir = tmp_path / "run"
    run = run_cli(["debug=profiler", f"hydra.run.dir={run_dir}"], tmp_path, cache_dir)
    assert run.returncode == 0, run.stderr[-3000:]
    reports = sorted(run_dir.glob("*profile*.txt"))
    assert reports, sorted(p.name for p in run_dir.iterdir())
    text = "\n".join(p.read_text() for p in reports)
    assert "run_training_batch" in text or "training_step" in text


def actionlint(path: Path) -> subprocess.CompletedProcess:
    assert ACTIONLINT.is_file(), f"no {ACTIONLINT}: install the dev extra"
    return subprocess.run(
        [str(ACTIONLINT), "-no-color", str(path)], capture_output=True, text=True, timeout=60
    )


def test_workflow_passes_actionlint():
    lint = actionlint(WORKFLOW)
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.parametrize(
    "old, new",
    [
        ("runs-on: ubuntu-latest", "runs-on: ${{ matrix.nope }}"),
        ("jobs:", "nope: 1\njobs:"),
    ],
)
def test_actionlint_refuses_a_broken_workflow(tmp_path, old, new):
    text = WORKFLOW.read_text()
    assert old in text
    broken = tmp_path / "ci.yml"
    broken.write_text(text.replace(old, new, 1))
    assert actionlint(broken).returncode != 0


def test_workflow_runs_the_tests_and_the_smoke_sweep():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    runs = [step["run"].strip() for step in job["steps"] if "run" in step]
    assert "make test" in runs
    assert ".venv/bin/python -m rvsm.train -m debug=smoke penalty=l0,tl1" in runs
    (setup,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python")]
    assert str(setup["with"]["python-version"]) == "3.11"
    assert setup["with"]["cache"] == "pip"
