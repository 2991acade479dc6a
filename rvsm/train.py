"""Hydra entry point: ``python -m rvsm.train [overrides]`` trains, tests and writes metrics.json."""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from pathlib import Path

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from rvsm.module import DivergedError
from rvsm.reporting.summary import summary_line
from rvsm.runtime.build import build
from rvsm.runtime.callbacks import HoldAtStep, StageTimer, StopAfterEpochs, StopCollapsed
from rvsm.runtime.checkpointing import (
    config_hash,
    finished_objective,
    resolve_checkpoint,
    resume_point,
)
from rvsm.runtime.checks import ConfigError, root_message
from rvsm.runtime.cli import fail, run_task
from rvsm.runtime.loggers import instantiate_all, wandb_loggers, wandb_run
from rvsm.runtime.preemption import PREEMPTED_EXIT, Preempted
from rvsm.utils.io import write_json

log = logging.getLogger(__name__)


def _make_trainer(cfg: DictConfig, loggers: list, callbacks: list) -> L.Trainer:
    try:
        return instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)
    except InstantiationException as err:
        where = f"trainer (accelerator={cfg.trainer.get('accelerator')})"
        raise ConfigError(f"{where}: {root_message(err)}") from None


def _target_name(node) -> str | None:
    """The class or function a config node instantiates, by its name (``Adam``, ``step_lr``)."""
    target = node.get("_target_") if node else None
    return None if target is None else str(target).rsplit(".", 1)[-1]


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _pruning_callback():
    """The pruner's callback of a search's trial (rvsm.search.pruning), or None."""
    if not _in_multirun() or not OmegaConf.select(HydraConfig.get(), "sweeper.pruner"):
        return None  # no search with a pruner: optuna is not imported
    from rvsm.search.pruning import pruning_callback  # optuna only for a search

    return pruning_callback(HydraConfig.get())


def _fit_and_test(
    trainer: L.Trainer, model, datamodule, ckpt_path, timer: StageTimer, collapse, pruning=None
) -> dict:
    """Fit (from ``ckpt_path`` if given), then test unless the run was stopped before the end
    (``collapse``: the StopCollapsed callback, if on)."""
    start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    fit_s = time.perf_counter() - start
    if not any(k.startswith("val/") for k in trainer.callback_metrics):
        trainer.validate(model, datamodule=datamodule, verbose=False)  # resumed at the very end
    metrics = {
        **{k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")},
        "time/fit_s": fit_s,
        **{f"time/{stage}_s": s for stage, s in timer.seconds.items()},
    }
    if pruning is not None and pruning.pruned is not None:  # a result, as collapsed
        error = f"{pruning.pruned} (hydra.sweeper.pruner)"
        return {**metrics, "status": "pruned", "error": error}
    if collapse is not None and collapse.collapsed is not None:
        error = (
            f"val/acc {collapse.collapsed:.4f} < collapse.below_acc={collapse.below_acc:g} after "
            f"{collapse.after_epochs} epochs: stopped (collapse.after_epochs=null trains on)"
        )
        return {**metrics, "status": "collapsed", "error": error}
    if 0 < trainer.max_epochs and trainer.current_epoch < trainer.max_epochs:
        return {**metrics, "status": "stopped"}
    start = time.perf_counter()
    (tested,) = trainer.test(model, datamodule=datamodule, verbose=False)
    metrics["time/test_s"] = time.perf_counter() - start
    return {**metrics, **{k: float(v) for k, v in tested.items()}, "status": "ok"}


def _report(cfg: DictConfig, metrics: dict, checkpoint: Path, knobs: dict) -> None:
    """One line on how the run ended; exits non-zero for a single run that did not finish."""
    status, kept = metrics["status"], checkpoint if checkpoint.is_file() else "none"
    if status == "ok":
        print(summary_line(metrics, knobs), flush=True)
    elif status == "stopped":
        print(
            f"rvsm: stopped after {metrics['epochs']} of {cfg.trainer.max_epochs} epochs; "
            f"continue with the same command plus hydra.run.dir={cfg.paths.output_dir} "
            "ckpt_path=last",
            flush=True,
        )
    elif status in ("collapsed", "pruned"):  # a result: past the cliff, or a poor trial
        print(f"rvsm: {status}: {metrics['error']}; metrics.json has status={status}", flush=True)
    elif status == "preempted":
        print(
            f"rvsm: {metrics['error']}; checkpoint {kept}; continue with the same command plus "
            f"hydra.run.dir={cfg.paths.output_dir} ckpt_path=last (a requeued job resumes by "
            "itself)",
            flush=True,
        )
    else:
        print(
            f"rvsm: error: run {status}: {metrics['error']}; metrics.json has status={status}; "
            f"last good checkpoint: {kept}",
            file=sys.stderr,
            flush=True,
        )
        if not _in_multirun():
            sys.exit(3)


def train(cfg: DictConfig) -> float:
    """Fit, test, write ``metrics.json`` in the run directory; return ``cfg.optimized_metric``.

    A run that diverges (or, inside a multirun, crashes) still writes ``metrics.json`` with its
    ``status`` and returns the finite ``cfg.failed_objective``, so a sweep goes on without it.
    """
    output_dir = Path(cfg.paths.output_dir)
    preempted: Preempted | None = None
    try:
        kept = finished_objective(cfg, output_dir)
        if kept is not None:
            message = f"rvsm: kept the finished run in {output_dir} (skip_finished)"
            rank_zero_only(print)(message, flush=True)
            return kept
        threads = cfg.get("threads") or os.environ.get("SLURM_CPUS_PER_TASK")
        if threads:  # a SLURM job's torch uses the CPUs it was given, not the whole node's
            torch.set_num_threads(int(threads))
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        model, datamodule = build(cfg)
        method = model.method
        ckpt_path = resolve_checkpoint(resume_point(cfg, output_dir), output_dir)
        wandb_on = "wandb" in (cfg.get("logger") or {})
        extra = {"wandb": wandb_run(output_dir, ckpt_path is not None)} if wandb_on else {}
        loggers = instantiate_all(cfg.get("logger"), extra)
        callbacks = instantiate_all(cfg.get("callbacks"))
        if cfg.get("stop_after_epochs"):
            callbacks.append(StopAfterEpochs(cfg.stop_after_epochs))
        collapse = None
        if cfg.collapse.after_epochs is not None:
            collapse = StopCollapsed(cfg.collapse.after_epochs, cfg.collapse.below_acc)
            callbacks.append(collapse)
        if cfg.hold.step is not None:
            marker = str(output_dir / "held")
            callbacks.append(
                HoldAtStep(cfg.hold.step, cfg.hold.release, marker, cfg.hold.timeout_s)
            )
        pruning = _pruning_callback()
        if pruning is not None:
            callbacks.append(pruning)
        timer = StageTimer()
        callbacks.append(timer)
        trainer = _make_trainer(cfg, loggers, callbacks)
    except (ValueError, InstantiationException) as err:
        fail(err)
    metrics = {"status": "failed"}
    try:
        resolved = OmegaConf.to_container(cfg, resolve=True)
        for logger in trainer.loggers:
            logger.log_hyperparams(resolved)
        try:
            metrics = _fit_and_test(trainer, model, datamodule, ckpt_path, timer, collapse, pruning)
        except DivergedError as err:
            metrics = {"status": "diverged", "error": str(err)}
        except Preempted as err:
            metrics, preempted = {"status": "preempted", "error": str(err)}, err
        except Exception as err:
            if not _in_multirun():
                raise
            log.exception("job failed")
            metrics = {"status": "failed", "error": f"{type(err).__name__}: {err}"}
        metrics.update(
            **method.describe(),
            main_knobs=list(method.main_knobs),
            optimizer=_target_name(cfg.model.get("optimizer")),
            lr_schedule=_target_name(cfg.model.get("scheduler")),
            split_layers=list(cfg.splitting.layers),
            seed=int(cfg.seed),
            **datamodule.describe(),
            batch_size=int(datamodule.batch_size),
            precision=str(trainer.precision),  # resolved: the default follows the CPU
            epochs=trainer.current_epoch,
            config_hash=config_hash(cfg),
        )
        objective = metrics.get(cfg.optimized_metric) if metrics["status"] == "ok" else None
        if objective is None or not math.isfinite(objective):
            objective = cfg.failed_objective
        metrics["objective"] = float(objective)  # what the sweeper is given
        if trainer.is_global_zero:
            write_json(output_dir / "metrics.json", metrics, sort_keys=False)
            _report(cfg, metrics, output_dir / "checkpoints" / "last.ckpt", method.summary())
        if preempted is not None:
            # W&B first: a requeue ends every process of the job at once, its service's too
            _finish_wandb(trainer, metrics["status"])
            preempted.hand_on()  # e.g. submitit's handler requeues the job
            sys.exit(PREEMPTED_EXIT)
        return float(objective)
    finally:
        _finish_wandb(trainer, metrics["status"])


def _finish_wandb(trainer: L.Trainer, status: str) -> None:
    """Close this run's W&B run, if any (a second call does nothing)."""
    if not wandb_loggers(trainer.loggers):
        return
    import wandb

    try:
        wandb.finish(exit_code=0 if status in ("ok", "stopped", "preempted") else 1)
    except Exception as err:  # e.g. its service already ended by SLURM, which signals every
        # process of a job: that must not replace the run's own exit (a requeue)
        log.warning("W&B did not finish cleanly: %s", err)


def main() -> None:
    run_task(train, "train")


if __name__ == "__main__":
    main()
