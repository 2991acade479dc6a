"""Under DDP (trainer=ddp_sim: 2 gloo processes on CPU) a run preempted mid-epoch resumes at the
next unseen batch of each rank and ends with the numbers of a run that never stopped."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from rvsm.runtime.preemption import PREEMPTED_EXIT
from tests.helpers import (
    TINY_DATA,
    assert_same_numbers,
    metrics_of,
    run_cli,
    sampler_position,
    start,
    wait_for,
)

# 3 deterministic epochs of 200 images, 100 a rank, 4 batches a rank an epoch
RUN = [*TINY_DATA, "data.n_pairs={train:100,val:32,test:32}", "trainer.max_epochs=3"]
RUN += ["trainer.deterministic=true", "trainer=ddp_sim"]
SHARE, BATCH = 100, 32


def children(pid: int) -> list[int]:
    """The processes ``pid`` started: under trainer=ddp_sim, rank 1."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


@pytest.fixture
def workdir(tmp_path) -> Path:
    return tmp_path


def test_ddp_run_preempted_mid_epoch_resumes_every_rank_to_the_uninterrupted_numbers(
    workdir, cache_dir
):
    whole = run_cli([*RUN, f"hydra.run.dir={workdir / 'whole'}"], workdir, cache_dir, timeout=400)
    assert whole.returncode == 0, whole.stderr[-3000:]

    run_dir = workdir / "preempted"
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    args = [*RUN, f"hydra.run.dir={run_dir}"]
    # both ranks held before the second batch of the second epoch (4 batches a rank an epoch)
    proc = start([*args, "hold.step=5"], workdir, cache_dir, workdir / "preempted.log")
    try:
        wait_for(run_dir / "held", proc)
        ranks = [proc.pid, *children(proc.pid)]
        assert len(ranks) == 2, "rank 1 is not running"
        for pid in ranks:  # as SLURM signals every task of a job
            os.kill(pid, signal.SIGTERM)
    finally:
        proc.wait(timeout=120)
    out = (workdir / "preempted.log").read_text()
    assert proc.returncode == PREEMPTED_EXIT, out[-3000:]
    assert "rvsm: preempted by SIGTERM in epoch" in out
    epoch, position = sampler_position(ckpt)
    assert epoch == 1 and 0 < position < SHARE, f"not checkpointed mid-epoch ({epoch}, {position})"
    assert position == 2 * BATCH  # the batch held before is trained: 2 batches of 32 a rank
    assert metrics_of(run_dir)["status"] == "preempted"

    resumed = run_cli(args, workdir, cache_dir, timeout=400)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Restored all states from the checkpoint" in resumed.stdout + resumed.stderr
    assert_same_numbers(metrics_of(workdir / "whole"), metrics_of(run_dir))
