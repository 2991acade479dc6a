"""The search loop behind ``hydra_plugins.rvsm_search``: ask the study for a batch of trials,
launch them as Hydra jobs, tell it each job's outcome, until ``n_trials`` count in the study.

A continued search (the same command and ``hydra.sweep.dir``) adds only what is missing to
``n_trials``; each trial runs in the job folder named by its trial number, so no folder is ever
written twice, and parallel workers on one study share the numbering. The result files are
rewritten after each batch; the command fails (exit 3) if more than ``max_failure_rate`` of the
counted trials failed.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import optuna
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from rvsm.search import study as studies
from rvsm.search.front import RUN_DIR, write_front
from rvsm.search.outcome import outcome
from rvsm.search.space import Space

log = logging.getLogger(__name__)


class SearchError(RuntimeError):
    """The search cannot go on; the message says why."""


@dataclass
class Settings:
    """``hydra.sweeper`` (conf/hydra/sweeper/pareto.yaml), as the sweeper plugin is given it."""

    objectives: dict[str, str]
    reference_point: list[float]
    n_trials: int
    n_jobs: int
    seed: int | None
    sampler: object  # a sampler class (or partial) taking ``seed=``
    storage: str | None
    study_name: str
    max_failure_rate: float
    max_retry: int | None
    heartbeat: dict
    params: dict
    conditions: dict
    pruner: dict | None = None  # read by each trial's job (rvsm.search.pruning), not here

    @property
    def batch(self) -> int:
        """Trials launched at once: ``n_jobs``, or counted from the cores as joblib does."""
        return self.n_jobs if self.n_jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + self.n_jobs)


class Search:
    """One sweeper process's part of a search."""

    def __init__(self, settings: Settings, config: DictConfig, launcher: Launcher) -> None:
        self.settings, self.config, self.launcher = settings, config, launcher
        self.sweep_dir = Path(config.hydra.sweep.dir)

    def run(self, arguments: Sequence[str]) -> None:
        s = self.settings
        space = Space.parse(s.params, s.conditions, arguments)
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        study = studies.open_study(
            self.sweep_dir, s.storage, s.study_name, list(s.objectives.values())
        )  # the pruner works in each trial's job, which opens the study with it
        self._check_folders(study)
        study.sampler = s.sampler(seed=studies.run_seed(study, s.seed))
        OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")
        log.info(
            f"Search {study.study_name}: {len(studies.counted(study.get_trials()))} of "
            f"{s.n_trials} trials in {s.storage or self.sweep_dir / studies.JOURNAL}"
        )
        ran = False
        while self._batch(study, space):
            write_front(study, list(s.objectives), s.reference_point, self.sweep_dir)
            ran = True
        if not ran:  # already complete: the files as the study stands
            write_front(study, list(s.objectives), s.reference_point, self.sweep_dir)
        self._check_failures(study)

    def _batch(self, study: optuna.Study, space: Space) -> bool:
        """Run one batch; False when the study has its ``n_trials``."""
        s = self.settings
        for number in studies.fail_stale(study, s.heartbeat["grace_s"], s.max_retry):
            log.warning(f"trial {number}: no heartbeat for {s.heartbeat['grace_s']} s; failed")
        left = s.n_trials - len(studies.counted(study.get_trials(deepcopy=False)))
        asked = [study.ask() for _ in range(min(s.batch, left))]
        trials = [t for t in asked if studies.within_budget(study, t, s.n_trials)]
        if not trials:
            return False
        jobs = [self._job(t, space) for t in trials]
        returns: Sequence[JobReturn | None]
        try:
            with studies.Heartbeat(trials, s.heartbeat["interval_s"]):
                returns = self.launcher.launch(jobs, initial_job_idx=trials[0].number)
        except Exception as err:  # e.g. a worker killed: each folder's metrics.json tells
            log.error(f"the launcher failed: {type(err).__name__}: {err}")
            returns = [None] * len(trials)
        for trial, job in zip(trials, returns, strict=True):
            result = outcome(job, self.sweep_dir / str(trial.number), list(s.objectives))
            for key, value in result.attrs.items():
                trial.set_user_attr(key, value)
            if result.attrs.get("status") == "pruned":
                log.info(f"trial {trial.number} pruned: {result.attrs['error']}")
                study.tell(trial, state=TrialState.PRUNED)
            elif result.values is None:
                log.warning(f"trial {trial.number} failed: {result.attrs['error']}")
                study.tell(trial, state=TrialState.FAIL)
            else:
                study.tell(trial, result.values)
        return True

    def _check_folders(self, study: optuna.Study) -> None:
        """Job folders must belong to this study's trials: a trial never writes into another's."""
        known = {str(t.number) for t in study.get_trials(deepcopy=False)}
        strangers = sorted(
            p.name for p in self.sweep_dir.iterdir() if p.name.isdigit() and p.name not in known
        )
        if strangers:
            raise SearchError(
                f"{self.sweep_dir} has job folders {', '.join(strangers)} that no trial of the "
                f"study {study.study_name} ran (another study or sweep wrote them); choose "
                "another hydra.sweep.dir"
            )

    def _job(self, trial: optuna.Trial, space: Space) -> list[str]:
        """The overrides of ``trial``'s job, which runs in the folder named by its number."""
        trial.set_user_attr(RUN_DIR, str(self.sweep_dir / str(trial.number)))
        return [*space.suggest(trial), f"hydra.sweep.subdir={trial.number}"]

    def _check_failures(self, study: optuna.Study) -> None:
        trials = studies.counted(study.get_trials(deepcopy=False))
        failed = [t for t in trials if t.state == TrialState.FAIL]
        rate = len(failed) / max(1, len(trials))
        if rate > self.settings.max_failure_rate:
            print(
                f"rvsm: error: search: {len(failed)} of {len(trials)} trials failed "
                f"({rate:.0%}), more than hydra.sweeper.max_failure_rate="
                f"{self.settings.max_failure_rate}; each run folder's metrics.json says why "
                f"(trials {', '.join(str(t.number) for t in failed)})",
                file=sys.stderr,
                flush=True,
            )
            sys.exit(3)
