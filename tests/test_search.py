"""The multi-objective search (``-m hparams_search=pareto_rvsm``) through the real CLI on tiny
data: the front it writes, continuing it, two workers on one study, failed and killed trials.
The study is read back with optuna from the journal file in the sweep folder."""

from __future__ import annotations

import csv
import json
import os
import signal
import time
from pathlib import Path

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from tests.helpers import TINY_DATA, run_cli, start, wait_for

SEARCH = ["-m", "hparams_search=pareto_rvsm", *TINY_DATA, "hydra.sweeper.seed=7"]
# each searched key and the metrics.json key its method records it under
RECORDED_AS = {
    "penalty": "penalty",
    "penalty.lam": "lam",
    "penalty.a": "a",
    "method.beta": "beta",
    "method.beta_growth": "beta_growth",
}


def load_study(sweep_dir: Path) -> optuna.Study:
    storage = JournalStorage(JournalFileBackend(str(sweep_dir / "study.journal")))
    return optuna.load_study(study_name="pareto_rvsm", storage=storage)


def metrics_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def job_folders(sweep_dir: Path) -> list[str]:
    return sorted((p.name for p in sweep_dir.iterdir() if p.name.isdigit()), key=int)


def assert_trials_match_their_folders(sweep_dir: Path, trials) -> None:
    """Each finished trial ran in the folder named by its number, with its own settings, and
    the study holds that folder's validation numbers."""
    for t in trials:
        metrics = metrics_of(sweep_dir / str(t.number))
        assert metrics["status"] == "ok" and t.state == TrialState.COMPLETE
        for key, value in t.params.items():
            assert metrics[RECORDED_AS[key]] == value, (t.number, key)
        assert t.values == [metrics["val/acc"], metrics["val/sparsity_fc"]]
        assert t.user_attrs["test/acc"] == metrics["test/acc"]


def settings(trials) -> list[tuple]:
    return [tuple(sorted(t.params.items())) for t in trials]


def test_search_writes_its_front_then_continues_to_n_trials_in_total(tmp_path, cache_dir):
    sweep_dir = tmp_path / "search"
    first = run_cli(
        [*SEARCH, "hydra.sweeper.n_trials=4", f"hydra.sweep.dir={sweep_dir}"], tmp_path, cache_dir
    )
    assert first.returncode == 0, first.stderr[-3000:]
    study = load_study(sweep_dir)
    assert job_folders(sweep_dir) == ["0", "1", "2", "3"]
    assert_trials_match_their_folders(sweep_dir, study.trials)
    assert {t.params["penalty"] for t in study.trials} <= {"l0", "tl1"}
    assert all(("penalty.a" in t.params) == (t.params["penalty"] == "tl1") for t in study.trials)

    with open(sweep_dir / "pareto.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 1
    assert {int(r["trial"]) for r in rows} == {t.number for t in study.best_trials}
    for row in rows:  # on the validation front: no trial beats it on both objectives
        acc, sparsity = float(row["val/acc"]), float(row["val/sparsity_fc"])
        assert not any(
            t.values[0] >= acc and t.values[1] >= sparsity and t.values != [acc, sparsity]
            for t in study.trials
        )
        metrics = metrics_of(Path(row["run"]))
        assert float(row["test/acc"]) == metrics["test/acc"]
        assert float(row["test/sparsity_fc"]) == metrics["test/sparsity_fc"]
    for name in ("pareto.png", "hypervolume.png"):
        assert (sweep_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name

    before = {n: (sweep_dir / n / "metrics.json").read_bytes() for n in job_folders(sweep_dir)}
    again = run_cli(
        [
            *SEARCH,
            "hydra.sweeper.n_trials=6",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",  # one batch of the two missing trials, in parallel
            f"hydra.sweep.dir={sweep_dir}",
        ],
        tmp_path,
        cache_dir,
        timeout=400,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    study = load_study(sweep_dir)
    assert [t.number for t in study.trials] == list(range(6))
    assert job_folders(sweep_dir) == [str(n) for n in range(6)]
    assert {n: (sweep_dir / n / "metrics.json").read_bytes() for n in before} == before
    assert_trials_match_their_folders(sweep_dir, study.trials)
    # the continued run's sampler has a seed of its own: it does not replay the first run's
    assert len(set(settings(study.trials))) == 6
    assert len([k for k in study.user_attrs if k.startswith("run:")]) == 2

    report = run_cli([str(sweep_dir)], tmp_path, cache_dir, module="rvsm.report")
    assert report.returncode == 0, report.stderr[-3000:]
    assert all(f"\n| {n} | mixed" in report.stdout for n in range(6))  # each trial is a run
    with open(sweep_dir / "report.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 6  # and a setting of its own


def test_two_workers_on_one_study_run_no_trial_twice(tmp_path, cache_dir):
    sweep_dir = tmp_path / "search"
    args = [*SEARCH, "hydra.sweeper.n_trials=4", f"hydra.sweep.dir={sweep_dir}"]
    workers = [start(args, tmp_path, cache_dir, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        for i, worker in enumerate(workers):
            assert worker.wait(timeout=400) == 0, (tmp_path / f"worker{i}.log").read_text()[-3000:]
    finally:
        for worker in workers:
            worker.kill()
    study = load_study(sweep_dir)
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 4 and job_folders(sweep_dir) == sorted(str(t.number) for t in done)
    assert len(set(settings(done))) == 4  # the same seed, yet no suggestion repeated
    assert_trials_match_their_folders(sweep_dir, done)
    # anything else was asked beyond n_trials in a race and closed unrun
    assert all("skipped" in t.user_attrs for t in study.trials if t not in done)
    runs = {v["pid"] for k, v in study.user_attrs.items() if k.startswith("run:")}
    assert runs == {w.pid for w in workers}  # both searched


def test_diverging_trials_are_failed_and_the_search_goes_on(tmp_path, cache_dir):
    sweep_dir = tmp_path / "search"
    args = [*SEARCH, "model.optimizer.lr=1e30", "hydra.sweeper.n_trials=2"]
    result = run_cli([*args, f"hydra.sweep.dir={sweep_dir}"], tmp_path, cache_dir)
    assert result.returncode == 3, result.stderr[-3000:]
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "rvsm: error: search: 2 of 2 trials failed (100%), more than "
            "hydra.sweeper.max_failure_rate=0.25"
        )
    )
    study = load_study(sweep_dir)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.FAIL]
    for t in study.trials:  # the second ran after the first failed; each folder says why
        metrics = metrics_of(sweep_dir / str(t.number))
        assert metrics["status"] == "diverged" and t.user_attrs["status"] == "diverged"
        assert t.user_attrs["error"] == metrics["error"] and "train/loss is" in metrics["error"]
    with open(sweep_dir / "pareto.csv", newline="") as f:
        assert list(csv.DictReader(f)) == []  # no trial on the front

    tolerant = run_cli(
        [*args, "hydra.sweeper.max_failure_rate=1.0", f"hydra.sweep.dir={sweep_dir}"],
        tmp_path,
        cache_dir,
    )
    assert tolerant.returncode == 0, tolerant.stderr[-3000:]
    assert len(load_study(sweep_dir).trials) == 2  # already at n_trials: nothing more ran


def test_trial_of_a_killed_search_is_failed_and_run_again(tmp_path, cache_dir):
    sweep_dir, release = tmp_path / "search", tmp_path / "release"
    args = [
        *SEARCH,
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.heartbeat.interval_s=0.5",
        "hydra.sweeper.heartbeat.grace_s=2",
        # each trial's run is held before its second step until ``release`` exists
        "hold.step=1",
        f"hold.release={release}",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    search = start(args, tmp_path, cache_dir, tmp_path / "killed.log")
    try:
        wait_for(sweep_dir / "0" / "held", search)  # trial 0 is training
    finally:
        os.kill(search.pid, signal.SIGKILL)
        search.wait(timeout=60)
    release.touch()
    (killed,) = load_study(sweep_dir).trials
    assert killed.state == TrialState.RUNNING  # what a dead sweeper leaves behind
    time.sleep(2.5)  # past the grace period

    result = run_cli(args, tmp_path, cache_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    study = load_study(sweep_dir)
    states = [t.state for t in study.trials]
    assert states == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    retry = next(t for t in study.trials if t.system_attrs.get("failed_trial") == 0)
    assert retry.params == killed.params and retry.number in (1, 2)
    assert not (sweep_dir / "0" / "metrics.json").exists()  # the killed job's folder, kept
    assert_trials_match_their_folders(sweep_dir, study.trials[1:])
    report = run_cli([str(sweep_dir)], tmp_path, cache_dir, module="rvsm.report")
    assert report.returncode == 0 and "no metrics.json (killed or running)" in report.stdout


# ---- pruning a single-objective search ----------------------------------------------------------
ONE_OBJECTIVE = [
    *SEARCH,
    "~hydra.sweeper.objectives",  # replaced, not merged into
    "+hydra.sweeper.objectives={val/acc:maximize}",
    "hydra.sweeper.reference_point=[0.5]",
    "hydra.sweeper.n_trials=2",
    "trainer.max_epochs=3",  # RVSM's fine-tuning needs the last one; the pruner stops at one
]


def test_a_single_objective_search_prunes_its_poor_trials_after_an_epoch(tmp_path, cache_dir):
    """A threshold above any accuracy: every trial reports its first epoch's val/acc, is pruned
    there (status pruned, one epoch trained), and the study records it as pruned."""
    sweep = tmp_path / "pruned"
    args = [*ONE_OBJECTIVE, "hydra/sweeper/pruner=threshold", "hydra.sweeper.pruner.lower=1.1"]
    args += ["hydra.sweeper.pruner.n_warmup_steps=0", f"hydra.sweep.dir={sweep}"]
    result = run_cli(args, tmp_path, cache_dir, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    study = load_study(sweep)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.PRUNED] * 2
    for t in trials:
        metrics = metrics_of(sweep / str(t.number))
        assert metrics["status"] == "pruned" and metrics["epochs"] == 1
        assert t.intermediate_values == {0: metrics["val/acc"]}


def test_a_pruner_in_a_multi_objective_search_is_refused_in_one_line(tmp_path, cache_dir):
    result = run_cli(
        [*SEARCH, "hydra/sweeper/pruner=median", f"hydra.sweep.dir={tmp_path / 's'}"],
        tmp_path,
        cache_dir,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith(
        "rvsm: error: hydra.sweeper.pruner: optuna prunes single-objective studies only"
    )
