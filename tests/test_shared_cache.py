"""The shared data cache with real processes: jobs started together on a cold cache, and a lock
left by a generator killed with SIGKILL."""

from __future__ import annotations

import signal
import time

import pytest

from tests.helpers import TINY_DATA, run_cli, start

pytestmark = pytest.mark.slow  # every test here runs the real command lines

# enough pairs that generating takes seconds, so jobs started together overlap; training is tiny
SLOW_DATA = [*TINY_DATA, "data.n_pairs={train:1500,val:16,test:16}"]
SLOW_DATA += ["+trainer.limit_train_batches=2"]


def test_two_jobs_on_a_cold_cache_generate_the_data_once_and_both_finish(tmp_path):
    cache_dir = tmp_path / "cache"
    runs = [(f"hydra.run.dir={tmp_path / name}", tmp_path / f"{name}.log") for name in "ab"]
    procs = [start([*SLOW_DATA, run], tmp_path, cache_dir, log) for run, log in runs]
    for proc in procs:
        proc.wait(timeout=300)
    logs = [log.read_text() for _, log in runs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert sum(log.count("generated") for log in logs) == 1
    assert sum("another job is generating this data set" in log for log in logs) == 1
    assert len(list(cache_dir.glob("*.npz"))) == 1


def test_a_lock_left_by_a_sigkilled_generator_does_not_block_the_next_job(tmp_path):
    cache_dir = tmp_path / "cache"
    args = [*SLOW_DATA, f"hydra.run.dir={tmp_path / 'run'}"]
    proc = start(args, tmp_path, cache_dir, tmp_path / "killed.log")
    try:
        deadline = time.monotonic() + 120
        while not list(cache_dir.glob("*.lock")) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)  # generating now
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the generator ended before it could be killed"
    assert list(cache_dir.glob("*.lock")) and not list(cache_dir.glob("*.npz"))
    after = run_cli(args, tmp_path, cache_dir, timeout=240)
    assert after.returncode == 0, after.stderr[-3000:]
    assert "generated" in after.stdout + after.stderr
