"""The study a search adds to: where it lives, its sampler's seed, which trials count towards
``n_trials``, and the trials whose process died.

The study lives in the sweep folder (``study.journal``, optuna's journal file, safe for several
processes, also on a shared file system) unless ``storage`` names another (any optuna storage
URL, e.g. ``sqlite:///search.db``). Every process that searches it registers as one run of the
study; a seeded sampler gets a seed of its own from (``seed``, that run's index), so that parallel
workers and a continued search never repeat the suggestions of another run, and a fresh search
repeats itself. A trial is kept alive by a heartbeat (a user attribute) while its job runs; one
whose heartbeat stopped for longer than the grace period (its sweeper was killed or preempted) is
failed and queued again, with its settings, by optuna's RetryHeartbeatStaleTrialCallback.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import optuna
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import FrozenTrial, TrialState

JOURNAL = "study.journal"
HEARTBEAT = "heartbeat"  # user attribute: the Unix time the trial's sweeper last marked it alive
SKIPPED = "skipped"  # user attribute of a trial asked beyond n_trials by a parallel worker


def open_study(
    sweep_dir: Path, storage: str | None, name: str, directions: Sequence[str]
) -> optuna.Study:
    """The study ``name`` in ``storage`` (default: the sweep folder's journal), created or
    continued."""
    if storage is None:
        storage = JournalStorage(JournalFileBackend(str(sweep_dir / JOURNAL)))
    return optuna.create_study(
        storage=storage, study_name=name, directions=list(directions), load_if_exists=True
    )


def run_seed(study: optuna.Study, seed: int | None) -> int | None:
    """Register this process as a run of ``study``; the sampler seed of this run (None: none)."""
    key = f"run:{uuid.uuid4().hex}"
    study.set_user_attr(key, {"host": socket.gethostname(), "pid": os.getpid(), "t": time.time()})
    runs = sorted((v["t"], k) for k, v in study.user_attrs.items() if k.startswith("run:"))
    index = [k for _, k in runs].index(key)
    if seed is None:
        return None
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _retried(trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of the trials that a later trial retries."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        return {n for t in trials for n in RetryHeartbeatStaleTrialCallback.retry_history(t)}


def counted(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that count towards ``n_trials``: run, running or done, not replaced by a
    retry, not skipped."""
    retried = _retried(trials)
    return [
        t
        for t in trials
        if t.state != TrialState.WAITING and t.number not in retried and SKIPPED not in t.user_attrs
    ]


def within_budget(study: optuna.Study, trial: optuna.Trial, n_trials: int) -> bool:
    """Whether ``trial`` (just asked) is among the first ``n_trials``; if not (another process
    asked the last one at the same time), it is closed as pruned, with the reason."""
    earlier = [t for t in counted(study.get_trials(deepcopy=False)) if t.number <= trial.number]
    if len(earlier) <= n_trials:
        return True
    trial.set_user_attr(SKIPPED, f"asked beyond n_trials={n_trials}; not run")
    study.tell(trial, state=TrialState.PRUNED)
    return False


def fail_stale(study: optuna.Study, grace_s: float, max_retry: int | None) -> list[int]:
    """Fail each running trial whose heartbeat is older than ``grace_s`` and queue it again (at
    most ``max_retry`` times); the numbers of the trials failed."""
    now = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        last = max(trial.user_attrs.get(HEARTBEAT, 0.0), trial.datetime_start.timestamp())
        if now - last <= grace_s:
            continue
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except (ValueError, UpdateFinishedTrialError):
            continue  # another process failed it first, and queued it again
        retry(study, trial)
        failed.append(trial.number)
    return failed


class Heartbeat:
    """While a batch of jobs runs, marks its trials alive every ``interval_s`` seconds from a
    thread of the sweeper process (``with Heartbeat(trials, 30): launch(...)``)."""

    def __init__(self, trials: Sequence[optuna.Trial], interval_s: float) -> None:
        self._trials = list(trials)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trial-heartbeat", daemon=True)

    def _beat(self) -> None:
        for trial in self._trials:
            trial.set_user_attr(HEARTBEAT, time.time())

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._beat()

    def __enter__(self) -> Heartbeat:
        self._beat()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
