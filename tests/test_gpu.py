"""The GPU paths, on a machine that has one (skipped elsewhere: the CI machine has none)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import TINY_DATA, run_cli

pytestmark = pytest.mark.gpu  # and slow, as every test that starts a process


@pytest.mark.parametrize("trainer", ["gpu", "ddp"])
def test_tiny_run_on_the_gpu_matches_the_metrics_contract(tmp_path, cache_dir, trainer):
    run_dir = tmp_path / "run"
    args = [*TINY_DATA, f"trainer={trainer}", f"hydra.run.dir={run_dir}"]
    result = run_cli(args, tmp_path, cache_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "ok" and 0.0 <= metrics["test/acc"] <= 1.0
    assert 0.0 < metrics["test/sparsity_fc"] <= 1.0
