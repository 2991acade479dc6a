"""The shared data cache with real processes: jobs started together on a cold cache, and a lock
left by a generator killed with SIGKILL. The generating job is held while it holds the lock
(``RVSM_HOLD_GENERATION``), so the other job meets the lock on any machine, however fast."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from rvsm.data.cache import HOLD_VARIABLE
from tests.helpers import TINY_DATA, run_cli, start, wait_for

DATA = [*TINY_DATA, "+trainer.limit_train_batches=2"]


def wait_for_text(log: Path, text: str, proc, seconds: float = 300) -> None:
    """Until ``log`` holds ``text``; fails if ``proc`` ends first or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while text not in log.read_text():
        assert proc.poll() is None, f"ended before printing {text!r}: {log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"no {text!r} in {log} after {seconds} s"
        time.sleep(0.05)


def test_two_jobs_on_a_cold_cache_generate_the_data_once_and_both_finish(tmp_path):
    cache_dir, release = tmp_path / "cache", tmp_path / "release"
    hold = {HOLD_VARIABLE: str(release)}
    runs = [(f"hydra.run.dir={tmp_path / name}", tmp_path / f"{name}.log") for name in "ab"]
    (a_dir, a_log), (b_dir, b_log) = runs
    first = start([*DATA, a_dir], tmp_path, cache_dir, a_log, env=hold)
    procs = [first]
    try:
        wait_for(Path(f"{release}.held"), first)  # a holds the lock, about to generate
        second = start([*DATA, b_dir], tmp_path, cache_dir, b_log, env=hold)
        procs.append(second)
        wait_for_text(b_log, "another job is generating this data set", second)
        release.touch()
        for proc in procs:
            proc.wait(timeout=300)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    logs = [log.read_text() for _, log in runs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert sum(log.count("generated") for log in logs) == 1
    assert sum("another job is generating this data set" in log for log in logs) == 1
    assert len(list(cache_dir.glob("*.npz"))) == 1


def test_a_lock_left_by_a_sigkilled_generator_does_not_block_the_next_job(tmp_path):
    cache_dir, release = tmp_path / "cache", tmp_path / "release"
    args = [*DATA, f"hydra.run.dir={tmp_path / 'run'}"]
    proc = start(
        args, tmp_path, cache_dir, tmp_path / "killed.log", env={HOLD_VARIABLE: str(release)}
    )
    try:
        wait_for(Path(f"{release}.held"), proc)  # generating, the lock taken
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the generator ended before it could be killed"
    assert list(cache_dir.glob("*.lock")) and not list(cache_dir.glob("*.npz"))
    after = run_cli(args, tmp_path, cache_dir, timeout=240)
    assert after.returncode == 0, after.stderr[-3000:]
    assert "generated" in after.stdout + after.stderr
