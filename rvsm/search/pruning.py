"""Pruning the trials of a single-objective search while they train (``hydra/sweeper/pruner``).

A trial is a job of its own (another process, possibly another machine), so the job opens the
study the sweeper keeps (its storage, the sweep folder's journal by default), finds its trial by
the number its folder is named after, and hands it to optuna-integration's
``PyTorchLightningPruningCallback``, which reports the objective after each validation and
would raise ``optuna.TrialPruned`` when the pruner says so; here the run stops at the end of
that epoch instead, the task records status ``pruned``, and the sweeper tells the study. Optuna
refuses ``trial.report`` in a study of more than one objective, so there the pruner is refused
on the command line (``check_pruner``).
"""

from __future__ import annotations

from pathlib import Path

import optuna
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna_integration.pytorch_lightning import PyTorchLightningPruningCallback

from rvsm.runtime.checks import ConfigError
from rvsm.search.study import JOURNAL

SWEEPER = "hydra_plugins.rvsm_search.pareto_sweeper.ParetoSweeper"


def check_pruner(sweeper: DictConfig) -> None:
    """A pruner needs a study of one objective."""
    if OmegaConf.select(sweeper, "pruner") and len(sweeper.objectives) != 1:
        raise ConfigError(
            f"hydra.sweeper.pruner: optuna prunes single-objective studies only, and "
            f"hydra.sweeper.objectives has {len(sweeper.objectives)}; the collapse stop "
            "(collapse.after_epochs) ends the runs at chance in a multi-objective search"
        )


class TrialPruning(PyTorchLightningPruningCallback):
    """optuna-integration's callback, ending the run cleanly where it would raise: the epoch
    finishes (its checkpoint written, counted in ``epochs``) and ``pruned`` says why."""

    pruned: str | None = None

    def on_validation_end(self, trainer, pl_module) -> None:
        try:
            super().on_validation_end(trainer, pl_module)
        except optuna.TrialPruned as err:
            self.pruned = str(err)
            trainer.should_stop = True


def pruning_callback(hydra: DictConfig) -> TrialPruning | None:
    """The pruning callback of this job's trial (``hydra``: the job's Hydra config, whose sweeper
    has a pruner), or None when the job is not a trial of the search."""
    sweeper = hydra.sweeper
    if sweeper.get("_target_") != SWEEPER:
        return None
    storage = sweeper.storage or JournalStorage(
        JournalFileBackend(str(Path(hydra.sweep.dir) / JOURNAL))
    )
    study = optuna.load_study(
        study_name=sweeper.study_name, storage=storage, pruner=instantiate(sweeper.pruner)
    )
    number = int(hydra.sweep.subdir)  # the search names each trial's folder by its number
    trial_id = next(t._trial_id for t in study.get_trials(deepcopy=False) if t.number == number)
    (objective,) = sweeper.objectives
    return TrialPruning(optuna.trial.Trial(study, trial_id), objective)
