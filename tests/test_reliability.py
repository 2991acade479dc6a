"""Resume, preemption, determinism, divergence and damaged checkpoints, through the real CLI."""

from __future__ import annotations

import hashlib
import os
import re
import signal
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
    signal_when_held,
    start,
    wait_for,
)

# Deterministic CPU runs of 3 epochs of 6 batches (192 images). A run is acted on while it is
# held before a known step (hold.step, <run folder>/held), whatever the machine's speed.
TRAIN_IMAGES, BATCH = 192, 32
RUN = [*TINY_DATA, "data.n_pairs={train:96,val:32,test:32}", "trainer.max_epochs=3"]
RUN += ["trainer.deterministic=true"]
IN_EPOCH_2 = 6 + 3  # held before the fourth batch of the second epoch (batch 3, 0-based)


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
    args = [*RUN, f"hold.step={IN_EPOCH_2}", f"hydra.run.dir={run_dir}"]
    proc = signal_when_held(args, run_dir, workdir, cache, workdir / "killed.log", signal.SIGKILL)
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
    args = [*RUN, "logger=wandb", f"hold.step={IN_EPOCH_2}", f"hydra.run.dir={run_dir}"]
    proc = signal_when_held(
        args, run_dir, workdir, cache, workdir / "preempted.log", signal.SIGTERM
    )
    out = (workdir / "preempted.log").read_text()
    assert proc.returncode == PREEMPTED_EXIT, out[-3000:]
    # the batch it was held before is trained, then the checkpoint is written
    assert "rvsm: preempted by SIGTERM in epoch 1, after batch 3" in out
    assert f"hydra.run.dir={run_dir} ckpt_path=last" in out
    epoch, position = sampler_position(ckpt)
    assert (epoch, position) == (1, 4 * BATCH), "not checkpointed after that batch"
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
    args = [*RUN, every_batch, f"hold.step={IN_EPOCH_2}", f"hydra.run.dir={run_dir}"]
    proc = signal_when_held(args, run_dir, workdir, cache, workdir / "k.log", signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    epoch, position = sampler_position(ckpt)
    assert 0 < position < TRAIN_IMAGES, f"last checkpoint at an epoch end ({epoch}, {position})"
    assert (epoch, position) == (1, 3 * BATCH)  # after the last batch trained before the hold
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
        [*RUN, "ckpt_path=last", "method.beta=1e39", f"hydra.run.dir={run_dir}"], workdir, cache
    )
    assert resumed.returncode == 3
    last = resumed.stderr.strip().splitlines()[-1]
    assert re.match(r"rvsm: error: run diverged: train/loss is (nan|inf) at epoch 1,", last)
    assert f"last good checkpoint: {ckpt}" in last
    assert hashlib.sha256(ckpt.read_bytes()).hexdigest() == digest  # untouched
    metrics = metrics_of(run_dir)
    assert metrics["status"] == "diverged" and metrics["error"] in last


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]],
                         ids=["basic", "joblib"])  # fmt: skip
def test_huge_learning_rate_in_a_multirun_gives_finite_objective_other_jobs_finish_sweep_fails(
    workdir, cache, launcher
):
    sweep_dir = workdir / f"sweep_{len(launcher)}"
    result = run_cli(
        [
            "-m",
            *TINY_DATA,
            *launcher,
            "model.optimizer.lr=1e-3,1e30",
            f"hydra.sweep.dir={sweep_dir}",
            "hydra.sweep.subdir=${hydra.job.num}",
        ],
        workdir,
        cache,
    )
    ok, diverged = metrics_of(sweep_dir / "0"), metrics_of(sweep_dir / "1")
    assert ok["status"] == "ok" and 0.0 <= ok["test/acc"] <= 1.0
    assert diverged["status"] == "diverged" and "train/loss is nan" in diverged["error"]
    assert diverged["objective"] == 0.0 and ok["objective"] == ok["test/acc"]  # sweeper's value
    assert "rvsm: error: run diverged" in result.stderr
    # the multirun names the job that did not finish and fails; no traceback
    assert result.returncode == 1, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert lines[-2].startswith(f"rvsm: error: job 1 ({sweep_dir / '1'}) diverged: train/loss is")
    assert lines[-1] == "rvsm: 1 of 2 jobs did not finish"
    assert "Traceback" not in result.stderr
    report = run_cli([str(sweep_dir)], workdir, cache, module="rvsm.report")
    assert report.returncode == 0 and "| 1 | diverged | train/loss is nan" in report.stdout


def test_a_joblib_job_killed_by_sigkill_fails_alone_and_the_others_finish(workdir, cache):
    sweep_dir, release = workdir / "killed_sweep", workdir / "release_killed_sweep"
    # both jobs held before their second step until ``release`` exists
    hold = ["hold.step=1", f"hold.release={release}"]
    args = ["-m", *TINY_DATA, "seed=1,2", *hold, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    log = workdir / "killed_sweep.log"
    proc = start([*args, f"hydra.sweep.dir={sweep_dir}"], workdir, cache, log)
    try:
        for n in (0, 1):
            wait_for(sweep_dir / str(n) / "held", proc)
        victim = int((sweep_dir / "0" / "held").read_text())
        os.kill(victim, signal.SIGKILL)  # as the out-of-memory killer would
        release.touch()
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = log.read_text()
    assert proc.returncode == 1, out[-3000:]
    killed, survivor = metrics_of(sweep_dir / "0"), metrics_of(sweep_dir / "1")
    assert survivor["status"] == "ok" and survivor["epochs"] == 1 and survivor["seed"] == 2
    assert killed["status"] == "failed"
    assert killed["error"] == "its process ended (killed by SIGKILL) without a result"
    assert (
        f"rvsm: error: job 0 ({sweep_dir / '0'}) failed: its process ended (killed by SIGKILL)"
        in out
    )
    assert "rvsm: 1 of 2 jobs did not finish" in out
    assert "Traceback" not in out


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
    from rvsm.utils.io import write_json

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
