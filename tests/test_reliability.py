"""Resume, preemption, determinism, divergence and damaged checkpoints, through the real CLI."""

from __future__ import annotations

import hashlib
import re
import signal
import time
from pathlib import Path

import pytest
import torch

from rvsm.runtime.preemption import PREEMPTED_EXIT
from tests.helpers import (
    TINY_DATA,
    assert_one_wandb_run_with_continuing_steps,
    assert_same_numbers,
    metrics_of,
    run_cli,
    sampler_position,
    start,
    wait_for,
)

pytestmark = pytest.mark.slow  # every test here runs the real command lines

# Deterministic CPU runs of 3 epochs; 600 training pairs make an epoch long enough to kill.
TRAIN_IMAGES = 1200
RUN = [*TINY_DATA, "data.n_pairs={train:600,val:32,test:32}", "trainer.max_epochs=3"]
RUN += ["trainer.deterministic=true"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reliability")


@pytest.fixture(scope="module")
def cache(workdir) -> Path:
    path = workdir / "cache"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def uninterrupted(workdir, cache) -> dict:
    result = run_cli([*RUN, f"hydra.run.dir={workdir / 'whole'}"], workdir, cache)
    assert result.returncode == 0, result.stderr[-3000:]
    return metrics_of(workdir / "whole")


def test_same_command_and_seed_twice_gives_identical_numbers(workdir, cache, uninterrupted):
    result = run_cli([*RUN, f"hydra.run.dir={workdir / 'again'}"], workdir, cache)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_numbers(uninterrupted, metrics_of(workdir / "again"))


def test_clean_stop_then_resume_equals_uninterrupted_run(workdir, cache, uninterrupted):
    run_dir = workdir / "stopped"
    first = run_cli([*RUN, "stop_after_epochs=1", f"hydra.run.dir={run_dir}"], workdir, cache)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "stopped after 1 of 3 epochs" in first.stdout
    assert metrics_of(run_dir)["status"] == "stopped"
    resumed = run_cli([*RUN, "ckpt_path=last", f"hydra.run.dir={run_dir}"], workdir, cache)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Restored all states from the checkpoint" in resumed.stdout + resumed.stderr
    assert_same_numbers(uninterrupted, metrics_of(run_dir))
    # the CSV curves of both attempts are kept, none overwritten
    assert sorted(p.name for p in (run_dir / "csv").iterdir()) == ["version_0", "version_1"]


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted_run(workdir, cache, uninterrupted):
    run_dir = workdir / "killed"
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    proc = start([*RUN, f"hydra.run.dir={run_dir}"], workdir, cache, workdir / "killed.log")
    try:
        wait_for(ckpt, proc)
        time.sleep(0.1)  # a few batches into the second epoch
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert torch.load(ckpt, weights_only=False)["epoch"] == 0, "killed after epoch 2 began"
    assert not (run_dir / "metrics.json").exists()
    resumed = run_cli([*RUN, "ckpt_path=last", f"hydra.run.dir={run_dir}"], workdir, cache)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_numbers(uninterrupted, metrics_of(run_dir))


def test_sigterm_mid_epoch_checkpoints_exits_75_and_the_requeued_job_resumes_at_the_next_batch(
    workdir, cache, uninterrupted
):
    run_dir = workdir / "preempted"
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    args = [*RUN, "logger=wandb", f"hydra.run.dir={run_dir}"]
    proc = start(args, workdir, cache, workdir / "preempted.log")
    try:
        wait_for(ckpt, proc)  # the end of the first epoch
        time.sleep(0.1)  # a few batches into the second
        proc.send_signal(signal.SIGTERM)
    finally:
        proc.wait(timeout=120)
    out = (workdir / "preempted.log").read_text()
    assert proc.returncode == PREEMPTED_EXIT, out[-3000:]
    assert "rvsm: preempted by SIGTERM in epoch 1, after batch" in out
    assert f"hydra.run.dir={run_dir} ckpt_path=last" in out
    epoch, position = sampler_position(ckpt)
    assert epoch == 1 and 0 < position < TRAIN_IMAGES, "not checkpointed mid-epoch"
    assert metrics_of(run_dir)["status"] == "preempted"

    # a requeued job runs the same command in the same folder: it resumes by itself
    resumed = run_cli(args, workdir, cache)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Restored all states from the checkpoint" in resumed.stdout + resumed.stderr
    assert_same_numbers(uninterrupted, metrics_of(run_dir))

    assert_one_wandb_run_with_continuing_steps(run_dir)


def test_sigkill_after_a_time_based_checkpoint_resumes_mid_epoch_to_the_same_numbers(
    workdir, cache, uninterrupted
):
    run_dir = workdir / "killed_mid_epoch"
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    every_batch = "callbacks.mid_epoch_checkpoint.train_time_interval=0"
    proc = start([*RUN, every_batch, f"hydra.run.dir={run_dir}"], workdir, cache, workdir / "k.log")
    try:
        wait_for(ckpt, proc)
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    epoch, position = sampler_position(ckpt)
    assert 0 < position < TRAIN_IMAGES, f"last checkpoint at an epoch end ({epoch}, {position})"
    resumed = run_cli([*RUN, "ckpt_path=last", f"hydra.run.dir={run_dir}"], workdir, cache)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_numbers(uninterrupted, metrics_of(run_dir))


def test_divergence_stops_with_status_and_keeps_last_good_checkpoint(workdir, cache):
    run_dir = workdir / "diverging"
    first = run_cli([*RUN, "stop_after_epochs=1", f"hydra.run.dir={run_dir}"], workdir, cache)
    assert first.returncode == 0, first.stderr[-3000:]
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    # beta so large that beta/2 ||w - u||^2 overflows float32: the loss is inf from the first step
    resumed = run_cli(
        [*RUN, "ckpt_path=last", "splitting.beta=1e39", f"hydra.run.dir={run_dir}"], workdir, cache
    )
    assert resumed.returncode == 3
    last = resumed.stderr.strip().splitlines()[-1]
    assert re.match(r"rvsm: error: run diverged: train/loss is (nan|inf) at epoch 1,", last)
    assert f"last good checkpoint: {ckpt}" in last
    assert hashlib.sha256(ckpt.read_bytes()).hexdigest() == digest  # untouched
    metrics = metrics_of(run_dir)
    assert metrics["status"] == "diverged" and metrics["error"] in last


def test_huge_learning_rate_in_a_multirun_gives_finite_objective_and_other_jobs_finish(
    workdir, cache
):
    sweep_dir = workdir / "sweep"
    result = run_cli(
        [
            "-m",
            *TINY_DATA,
            "model.optimizer.lr=1e-3,1e30",
            f"hydra.sweep.dir={sweep_dir}",
            "hydra.sweep.subdir=${hydra.job.num}",
        ],
        workdir,
        cache,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ok, diverged = metrics_of(sweep_dir / "0"), metrics_of(sweep_dir / "1")
    assert ok["status"] == "ok" and 0.0 <= ok["test/acc"] <= 1.0
    assert diverged["status"] == "diverged" and "train/loss is nan" in diverged["error"]
    assert diverged["objective"] == 0.0 and ok["objective"] == ok["test/acc"]  # sweeper's value
    assert "rvsm: error: run diverged" in result.stderr
    report = run_cli([str(sweep_dir)], workdir, cache, module="rvsm.report")
    assert report.returncode == 0 and "| 1 | diverged | train/loss is nan" in report.stdout


@pytest.mark.parametrize(
    "damage", [lambda b: b[: len(b) // 2], lambda b: b"not a checkpoint"], ids=["cut", "garbage"]
)
def test_damaged_last_checkpoint_is_reported_in_one_line(tmp_path, cache_dir, damage):
    run_dir = tmp_path / "run"
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    first = run_cli(
        [*TINY_DATA, "trainer.max_epochs=1", f"hydra.run.dir={run_dir}"], tmp_path, cache_dir
    )
    assert first.returncode == 0, first.stderr[-3000:]
    ckpt.write_bytes(damage(ckpt.read_bytes()))
    result = run_cli(
        [*TINY_DATA, "ckpt_path=last", f"hydra.run.dir={run_dir}"], tmp_path, cache_dir
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"rvsm: error: ckpt_path: {ckpt} is not a readable checkpoint")


def test_a_preempted_run_is_resumed_only_into_the_same_settings(tmp_path):
    from omegaconf import OmegaConf

    from rvsm.runtime.checkpointing import config_hash, resume_point
    from rvsm.runtime.checks import ConfigError
    from rvsm.runtime.io import write_json

    cfg = OmegaConf.create({"seed": 1, "auto_resume": True, "paths": {"output_dir": "/a"}})
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    write_json(tmp_path / "metrics.json", {"status": "preempted", "config_hash": config_hash(cfg)})
    assert resume_point(cfg, tmp_path) == "last"
    # where it is written and logged and how many threads it uses do not make it another run
    moved = OmegaConf.merge(cfg, {"threads": 2, "paths": {"output_dir": "/b"}, "logger": {"w": 1}})
    assert resume_point(moved, tmp_path) == "last"
    other = OmegaConf.merge(cfg, {"seed": 2})
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(tmp_path))} holds a preempted run of"):
        resume_point(other, tmp_path)
