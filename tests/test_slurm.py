"""Sweeps through a real one-node SLURM cluster (tests/slurm_cluster.py, started here as
root): results, preemption by a higher-priority partition, a time limit, a job that dies, a cold
data cache. ``make test-slurm`` runs these; ``make test`` leaves them out (marker ``slurm``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers import (
    ROOT,
    TINY_DATA,
    assert_one_wandb_run_with_continuing_steps,
    assert_same_numbers,
    metrics_of,
    run_cli,
    sampler_position,
    start,
    wait_for,
)
from tests.slurm_cluster import HIGH_PARTITION, PARTITION, STATE, cancel_all, queued

pytestmark = pytest.mark.slurm  # and slow, as every test that starts a process

# one thread a job: TINY_DATA's threads=1
SLURM = ["-m", "hydra/launcher=slurm", f"hydra.launcher.partition={PARTITION}"]
# 3 deterministic epochs of 6 batches; a run is acted on while held before a known step
# (hold.step: <run folder>/held is written then), so no test depends on the machine's speed
RUN = [*TINY_DATA, "data.n_pairs={train:96,val:32,test:32}", "trainer.max_epochs=3"]
RUN += ["trainer.deterministic=true"]
TRAIN_IMAGES = 192


def cluster_cli(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.slurm_cluster", command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def cluster():
    """The cluster, started here (packages installed if missing) and stopped at the end; one
    already started by the same script is used and left running if its queue is empty (the
    tests count on the node's two CPUs)."""
    if cluster_cli("status").returncode == 0:
        if jobs := queued():
            pytest.fail(f"the running cluster has jobs {' '.join(jobs)} queued; the SLURM "
                        "tests need the node to themselves: python -m tests.slurm_cluster "
                        "stop")  # fmt: skip
        yield False  # not started here
        return
    began = time.monotonic()
    started = cluster_cli("start")
    assert started.returncode == 0, started.stderr
    print(f"cluster up after {time.monotonic() - began:.1f} s: {started.stdout.strip()}")
    try:
        yield True
    finally:
        stopped = cluster_cli("stop")
        assert stopped.returncode == 0, stopped.stderr
        assert "stopped" in cluster_cli("status").stdout


@pytest.fixture(autouse=True)
def empty_queue_after():
    """A failed test's jobs (its launcher killed, its jobs still queued) would hold the node's
    CPUs and starve the next tests: every test leaves the queue empty."""
    yield
    assert cancel_all() == [], "jobs still queued a minute after scancel"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("slurm")


def job_ids(sweep: Path) -> list[str]:
    """The SLURM job ids of a sweep (submitit's folders), e.g. ``['12_0', '12_1']`` for an array
    (whose own folder ``12`` holds the submission script) or ``['13']`` for a single job."""
    names = {p.name for p in (sweep / ".submitit").iterdir() if p.is_dir()}
    return sorted(n for n in names if not any(o.startswith(f"{n}_") for o in names))


def running() -> list[str]:
    """The ids of the running jobs."""
    out = subprocess.run(["squeue", "-h", "-t", "R", "-o", "%i"], capture_output=True, text=True)
    return out.stdout.split()


def crash(job_id: str) -> None:
    """SIGSEGV to the job's processes; retried while the job is still starting ("Job can not be
    altered now, try again later", seen once when it had just been given the node)."""
    for _ in range(60):
        cmd = ["scancel", "--signal=11", "--full", job_id]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode == 0 or "try again later" not in result.stderr:
            break
        time.sleep(0.5)
    assert result.returncode == 0, result.stderr


def restarts(job_id: str) -> int:
    out = subprocess.run(
        ["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, check=True
    ).stdout
    return int(re.search(r"\bRestarts=(\d+)", out).group(1))


def job_log(sweep: Path) -> str:
    return "".join(p.read_text() for p in sorted((sweep / ".submitit").rglob("*_log.*")))


def test_cluster_refuses_a_second_start_and_a_user_other_than_root(cluster):
    again = cluster_cli("start")
    assert again.returncode == 1
    assert again.stderr.strip() == (
        "slurm_cluster: error: already running "
        "(mariadbd, munged, slurmctld, slurmd, slurmdbd); stop it first"
    )
    # Debian's own python on a copy of the script in a folder anyone can read: the venv and the
    # checkout may live where nobody cannot (mktemp -d makes 0700); it needs only the stdlib
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        script = shutil.copy(ROOT / "tests" / "slurm_cluster.py", folder)
        nobody = subprocess.run(
            ["/usr/bin/python3", script, "start"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=60,
            user="nobody",
        )
    finally:
        shutil.rmtree(folder)
    assert nobody.returncode == 1
    assert nobody.stderr.strip().startswith("slurm_cluster: error: needs root")


def test_a_cluster_that_died_without_stop_starts_again_with_an_empty_queue(cluster, workdir):
    if not cluster:
        pytest.skip("kills the cluster's daemons: only one these tests started")
    pid_file = workdir / "sleeper.pid"
    sleeper = ["sbatch", "--parsable", "-c2", f"--output={workdir / 'sleep.out'}"]
    job = subprocess.run(
        [*sleeper, f"--wrap=echo $$ > {pid_file}; exec sleep 600"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deadline = time.monotonic() + 30
    while not (job in running() and pid_file.is_file()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job in running()
    # the machine goes away: every daemon and the job's processes killed, no stop (the step
    # daemons are this cluster's: it was started here)
    daemons = json.loads((STATE / "daemons.json").read_text())
    for pid in [*daemons.values(), int(pid_file.read_text())]:
        os.kill(pid, signal.SIGKILL)
    subprocess.run(["pkill", "-KILL", "-x", "slurmstepd"], check=False)
    deadline = time.monotonic() + 30
    while cluster_cli("status").returncode == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    again = cluster_cli("start")
    assert again.returncode == 0, again.stderr
    assert queued() == []  # the old job is not recovered as running on the node
    # the node is free: a job of both CPUs runs at once
    fresh = subprocess.run(
        ["srun", "-c2", "--immediate=20", "hostname"], capture_output=True, text=True, timeout=60
    )
    assert fresh.returncode == 0, fresh.stderr


def test_two_seed_sweep_on_a_cold_cache_runs_both_jobs_and_generates_the_data_once(
    cluster, workdir
):
    sweep, cache = workdir / "seeds", workdir / "cold_cache"
    # the data pinned across seeds, as in the grids: both jobs need one data set
    args = [*SLURM, *TINY_DATA, "data.seed=7", "seed=1,2", f"hydra.sweep.dir={sweep}"]
    result = run_cli(args, workdir, cache)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [metrics_of(sweep / str(n)) for n in (0, 1)]
    assert [m["status"] for m in runs] == ["ok", "ok"]
    assert [m["seed"] for m in runs] == [1, 2]
    assert all(0.0 <= m["test/acc"] <= 1.0 and m["epochs"] == 1 for m in runs)
    assert [restarts(j) for j in job_ids(sweep)] == [0, 0]
    # one CPU each, no GPU, 3 GB: what the launcher sized from threads=1 and trainer=cpu
    script = next((sweep / ".submitit").rglob("*_submission.sh")).read_text()
    assert {"--cpus-per-task=1", "--gpus-per-node=0", "--mem=3GB"} <= set(
        re.findall(r"#SBATCH (\S+)", script)
    )
    # one job generated it, once; the other waited for it or read it
    logs = [(sweep / str(n) / "train.log").read_text() for n in (0, 1)]
    assert sum(log.count("generated 256 images") for log in logs) == 1
    assert len(list(cache.glob("*.npz"))) == 1

    report = run_cli([str(sweep)], workdir, cache, module="rvsm.report")
    assert report.returncode == 0, report.stderr[-3000:]
    rows = (sweep / "report.csv").read_text().splitlines()
    assert len(rows) == 2 and ",1 2," in rows[1].replace('"', "")  # one setting, seeds 1 and 2


def test_preempted_mid_epoch_by_a_higher_partition_requeues_and_ends_as_an_uninterrupted_run(
    cluster, workdir
):
    cache = workdir / "cache"
    # the same settings on one thread (TINY_DATA's), as the SLURM job (threads change the sums)
    whole = [*RUN, f"hydra.run.dir={workdir / 'whole'}"]
    local = start(whole, workdir, cache, workdir / "w.log")
    sweep = workdir / "preempted"
    run_dir, log = sweep / "0", workdir / "preempted.log"
    # the job takes both CPUs of the node, so a one-CPU job of the higher partition preempts it
    # held before the third batch of the second epoch until the preemption signal comes
    args = [*SLURM, *RUN, "hydra.launcher.cpus_per_task=2", "logger=wandb", "hold.step=8"]
    proc = start([*args, f"hydra.sweep.dir={sweep}"], workdir, cache, log)
    try:
        wait_for(run_dir / "held", proc)
        high = subprocess.run(
            ["sbatch", "--parsable", f"--partition={HIGH_PARTITION}", "-c1", "--wrap=sleep 1"]
            + [f"--output={workdir / 'high.out'}"],
            capture_output=True,
            text=True,
            check=True,
        )
        proc.wait(timeout=300)
        local.wait(timeout=300)
    finally:
        for p in (proc, local):
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert local.returncode == 0, (workdir / "w.log").read_text()[-3000:]
    (job,) = job_ids(sweep)
    assert restarts(job) == 1
    out = job_log(sweep)
    assert "Caught signal SIGUSR2 on" in out and "this job is preempted" in out
    # mid-epoch: the batch it was held before is trained, then the checkpoint is written
    assert "rvsm: preempted by SIGUSR2 in epoch 1, after batch 2" in out, "not preempted there"
    assert "Restored all states from the checkpoint" in out
    epoch, position = sampler_position(run_dir / "checkpoints" / "last.ckpt")
    assert (epoch, position) == (2, TRAIN_IMAGES)  # the last epoch's end
    assert_same_numbers(metrics_of(workdir / "whole"), metrics_of(run_dir))
    assert_one_wandb_run_with_continuing_steps(run_dir)
    assert high.stdout.strip().isdigit()


def test_time_limit_signals_before_the_limit_then_the_job_is_requeued_and_finishes(
    cluster, workdir
):
    sweep = workdir / "time_limit"
    # a one-minute limit: slurmctld checks limits every 30 s, so SIGUSR2 comes 20 to 50 s before
    # the limit; the run is held before its second step until a signal comes
    limit = ["hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=20", "hold.step=1"]
    result = run_cli(
        [*SLURM, *RUN, *limit, f"hydra.sweep.dir={sweep}"], workdir, workdir / "cache", timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (job,) = job_ids(sweep)
    assert restarts(job) >= 1
    out = job_log(sweep)
    assert "this job is timed-out" in out and "Requeued job" in out
    assert re.search(r"rvsm: preempted by SIGUSR2 in epoch \d+, after batch \d+", out)
    metrics = metrics_of(sweep / "0")
    assert metrics["status"] == "ok" and metrics["epochs"] == 3 and 0 <= metrics["test/acc"] <= 1


def test_a_job_crashed_and_a_job_diverged_are_recorded_the_others_finish_and_the_sweep_fails(
    cluster, workdir
):
    sweep, log, release = workdir / "failing", workdir / "failing.log", workdir / "release"
    lrs = "model.optimizer.lr=1e-3,1e30,2e-3"  # job 1 diverges
    # every job held before its third step until ``release`` exists: job 0 is crashed there
    hold = ["hold.step=2", f"hold.release={release}"]
    args = [*SLURM, *RUN, *hold, lrs, f"hydra.sweep.dir={sweep}"]
    began = time.monotonic()
    proc = start(args, workdir, workdir / "cache", log)
    try:
        wait_for(sweep / "0" / "held", proc)
        (array,) = {j.split("_")[0] for j in job_ids(sweep)}
        # job 0 crashes: SIGSEGV (11) to its processes, no result written (scancel's KILL would be
        # a cancellation: SIGTERM first, which a run survives)
        crash(f"{array}_0")
        release.touch()
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    seconds = time.monotonic() - began
    out = log.read_text()
    assert proc.returncode == 1, out[-3000:]
    assert seconds < 240, "the sweep waited on a dead job"
    crashed, diverged, ok = (metrics_of(sweep / str(n)) for n in range(3))
    assert crashed["status"] == "failed"
    assert crashed["error"].startswith(f"SLURM job {array}_0 ended (FAILED) without a result")
    assert diverged["status"] == "diverged" and "train/loss is nan" in diverged["error"]
    assert ok["status"] == "ok" and 0.0 <= ok["test/acc"] <= 1.0
    assert f"rvsm: error: job 0 ({sweep / '0'}) failed: SLURM job {array}_0 ended (FAILED)" in out
    assert f"rvsm: error: job 1 ({sweep / '1'}) diverged: train/loss is nan" in out
    assert "rvsm: 2 of 3 jobs did not finish" in out
    report = run_cli([str(sweep)], workdir, workdir / "cache", module="rvsm.report")
    assert report.returncode == 0 and "| 0 | failed | SLURM job" in report.stdout
    assert json.loads((sweep / "2" / "metrics.json").read_text())["objective"] == ok["val/acc"]
