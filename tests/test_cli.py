"""The real Hydra CLI as a user runs it: a smoke run that writes metrics.json, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import ROOT, TINY_DATA, run_cli, wandb_history_keys, wandb_records

REQUIRED = (
    "test/acc",
    "test/acc_dense",
    "test/sparsity_fc",
    "test/sparsity",
    "time/fit_s",
    "val/acc",
    "val/acc_dense",
    "val/sparsity_fc",
)


@pytest.mark.parametrize(
    "penalty_args,expected",
    [
        (["penalty=l0", "penalty.lam=1e-5", "splitting.layers=[conv3,fc]"], ("l0", 1e-5, None)),
        (["penalty=tl1", "penalty.lam=2e-5", "penalty.a=0.5"], ("tl1", 2e-5, 0.5)),
    ],
)
def test_smoke_run_writes_metrics_json(tmp_path, cache_dir, penalty_args, expected):
    run_dir = tmp_path / "run"
    result = run_cli(
        [*TINY_DATA, *penalty_args, "seed=7", "method.beta=0.02", f"hydra.run.dir={run_dir}"],
        cwd=tmp_path,
        cache_dir=cache_dir,
        fresh=expected[0] == "l0",  # once in a new interpreter, as a user starts it
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in REQUIRED:
        assert isinstance(metrics[key], float), key
        assert 0.0 <= metrics[key] <= (1.0 if key != "time/fit_s" else 1e6)
    assert (metrics["penalty"], metrics["lam"], metrics["a"]) == expected
    assert metrics["beta"] == 0.02 and metrics["seed"] == 7
    assert (metrics["batch_size"], metrics["precision"]) == (32, "32-true")  # as TINY_DATA sets
    # the summary line is printed, with the same numbers
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("rvsm: method=rvsm penalty=")]
    assert line and f"test/acc={metrics['test/acc']:.4f}" in line[-1]
    # a checkpoint with the auxiliary weights, the CSV log and the cached data exist on disk
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "csv" / "version_0" / "metrics.csv").is_file()
    assert len(list(cache_dir.glob("*.npz"))) == 1


def test_sparsity_reported_is_fraction_of_zeros_in_checkpointed_u(tmp_path, cache_dir):
    import torch

    run_dir = tmp_path / "run"
    args = [*TINY_DATA, "penalty.lam=1e-5", "method.beta=0.01", f"hydra.run.dir={run_dir}"]
    result = run_cli(args, cwd=tmp_path, cache_dir=cache_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    u = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"][
        "method.u_fc"
    ]
    assert metrics["test/sparsity_fc"] == pytest.approx((u == 0).float().mean().item())
    assert metrics["test/sparsity_fc"] > 0.5  # threshold sqrt(2e-3) ~ 0.045 zeroes most of fc
    # the zero-pattern picture shows exactly the checkpoint's zeros
    from PIL import Image

    from rvsm.reporting.zero_pattern import SCALE, ZERO

    picture = np.asarray(Image.open(run_dir / "zero_pattern_fc.png"))
    assert (picture == ZERO).sum() == SCALE**2 * int((u == 0).sum())


# Through the real command line, one bad setting of each kind (every rule of the check it runs
# first is in tests/test_config.py): a group choice, a knob, a point of a sweep, a search's own
# setting, and what is found bad only once the run starts (its checkpoint)
BAD_INPUTS = [
    (["penalty=foo"], "penalty=foo"),
    (["penalty.lam=-1"], "penalty.lam"),
    (["-m", "penalty.lam=1e-5,-1e-5"], "penalty.lam"),  # a bad value anywhere in a sweep
    (["-m", "hparams_search=pareto_rvsm", "hydra.sweeper.n_trials=0"], "hydra.sweeper.n_trials"),
    (["ckpt_path=last"], "ckpt_path=last: no checkpoint"),
    (["ckpt_path=/no/such/file.ckpt"], "ckpt_path: no checkpoint file"),
]


@pytest.mark.parametrize("args,key", BAD_INPUTS, ids=[a[0][-1] for a in BAD_INPUTS])
def test_bad_input_gives_one_line_error_before_any_data(tmp_path, cache_dir, args, key):
    result = run_cli([*TINY_DATA, *args, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, cache_dir)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rvsm: error:") and key in lines[0]
    assert not list(cache_dir.iterdir()), "data was generated before the error"


def test_glob_sweeps_every_penalty(tmp_path, cache_dir):
    sweep = tmp_path / "sweep"
    result = run_cli(
        ["-m", "penalty=glob(*)", *TINY_DATA, f"hydra.sweep.dir={sweep}"], tmp_path, cache_dir
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ran = {json.loads(p.read_text())["penalty"] for p in sweep.glob("*/metrics.json")}
    assert ran == {p.stem for p in (ROOT / "conf" / "penalty").glob("*.yaml")}


def test_a_bad_value_in_a_presets_grid_is_refused_before_any_job(tmp_path, cache_dir):
    grids = tmp_path / "conf" / "grid"
    grids.mkdir(parents=True)
    (grids / "bad_grid.yaml").write_text(
        "# @package _global_\nhydra:\n  sweeper:\n    params:\n      penalty.lam: 1e-5,-3\n"
    )
    sweep = tmp_path / "sweep"
    args = [f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "grid=bad_grid"]
    result = run_cli(["-m", *args, *TINY_DATA, f"hydra.sweep.dir={sweep}"], tmp_path, cache_dir)
    assert result.returncode == 2
    assert result.stderr.strip() == "rvsm: error: penalty.lam must be a number >= 0, got -3"
    assert not sweep.exists() and not list(cache_dir.iterdir())


def test_ddp_simulated_on_cpu(tmp_path, cache_dir):
    """trainer=ddp_sim: two gloo processes train, test, and rank 0 alone writes metrics.json."""
    run_dir = tmp_path / "run"
    result = run_cli(
        [*TINY_DATA, "trainer=ddp_sim", f"hydra.run.dir={run_dir}"], tmp_path, cache_dir
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run_dir / "train_ddp_process_1.log").is_file()  # the second rank ran
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["test/acc"] <= 1.0 and metrics["status"] == "ok"
    assert (
        sum(ln.startswith("rvsm: method=rvsm penalty=") for ln in result.stdout.splitlines()) == 1
    )


def test_wandb_offline_run_holds_history_and_resolved_config(tmp_path, cache_dir):
    """logger=wandb without an account: an offline run that the wandb package reads back."""
    run_dir = tmp_path / "run"
    result = run_cli([*TINY_DATA, "logger=wandb", f"hydra.run.dir={run_dir}"], tmp_path, cache_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    assert list(offline.glob("run-*.wandb"))
    # the CSV logger stays on beside W&B
    assert (run_dir / "csv" / "version_0" / "metrics.csv").is_file()
    records = wandb_records(offline)
    logged = wandb_history_keys(records)
    assert {"val/acc", "val/acc_dense", "val/sparsity_fc", "test/acc", "train/loss_epoch"} <= logged
    assert "val/zero_pattern_fc._type" in logged  # the zero-pattern picture, as a wandb.Image
    assert list((offline / "files" / "media" / "images").glob("val/zero_pattern_fc_*.png"))
    config = [r["config"]["update"] for r in records if r.get("type") == "config"]
    assert any(c.get("method", {}).get("beta") == 0.1 for c in config)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_gpu_trainer_without_gpu_is_one_line_error(tmp_path, cache_dir):
    result = run_cli(
        [*TINY_DATA, "trainer=gpu", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, cache_dir
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("rvsm: error:")
        and "trainer" in lines[0]
        and "gpu" in lines[0].lower()
    ), result.stderr
    assert not list(cache_dir.iterdir())
