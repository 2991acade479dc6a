"""Hydra entry point: ``python -m rvsm.train [overrides]`` trains, tests and writes metrics.json."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import hydra
import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rvsm.config_checks import ConfigError, check_group_choices, validate
from rvsm.io import write_json

log = logging.getLogger(__name__)


def _root_message(err: BaseException) -> str:
    """First line of the error that Hydra's instantiate wrapped."""
    while isinstance(err, InstantiationException) and err.__cause__ is not None:
        err = err.__cause__
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _fail(err: BaseException) -> None:
    """Report a bad setting as one line on stderr and exit with status 2."""
    print(f"rvsm: error: {_root_message(err)}", file=sys.stderr, flush=True)
    sys.exit(2)


def _make_trainer(cfg: DictConfig, loggers: list, callbacks: list) -> L.Trainer:
    try:
        return instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)
    except InstantiationException as err:
        where = f"trainer (accelerator={cfg.trainer.get('accelerator')})"
        raise ConfigError(f"{where}: {_root_message(err)}") from None


def _instantiate_all(node: DictConfig | None) -> list:
    """Instantiate each ``_target_`` entry of a group such as ``logger`` or ``callbacks``."""
    if not node:
        return []
    return [instantiate(v) for v in node.values() if isinstance(v, DictConfig) and "_target_" in v]


def build(cfg: DictConfig):
    """Check the config and build penalty, model and data module (no data is generated here)."""
    validate(cfg)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    penalty = instantiate(cfg.penalty)
    model = instantiate(
        cfg.model,
        penalty=penalty,
        beta=cfg.splitting.beta,
        split_layers=list(cfg.splitting.layers),
    )
    datamodule = instantiate(cfg.data)
    return penalty, model, datamodule


def summary_line(metrics: dict) -> str:
    a = "-" if metrics["a"] is None else f"{metrics['a']:g}"
    return (
        f"rvsm: penalty={metrics['penalty']} lam={metrics['lam']:g} beta={metrics['beta']:g} a={a} "
        f"seed={metrics['seed']} | test/acc={metrics['test/acc']:.4f} "
        f"test/acc_dense={metrics['test/acc_dense']:.4f} "
        f"test/sparsity_fc={metrics['test/sparsity_fc']:.4f} "
        f"test/sparsity={metrics['test/sparsity']:.4f} | fit {metrics['time/fit_s']:.1f}s"
    )


def train(cfg: DictConfig) -> float:
    """Fit, test, write ``metrics.json`` in the run directory; return ``cfg.optimized_metric``."""
    try:
        penalty, model, datamodule = build(cfg)
        loggers = _instantiate_all(cfg.get("logger"))
        callbacks = _instantiate_all(cfg.get("callbacks"))
        trainer = _make_trainer(cfg, loggers, callbacks)
    except (ValueError, InstantiationException) as err:
        _fail(err)
    try:
        resolved = OmegaConf.to_container(cfg, resolve=True)
        for logger in trainer.loggers:
            logger.log_hyperparams(resolved)
        start = time.perf_counter()
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        fit_s = time.perf_counter() - start
        logged = trainer.callback_metrics.items()
        last_val = {k: float(v) for k, v in logged if k.startswith("val/")}
        (tested,) = trainer.test(model, datamodule=datamodule, verbose=False)
        metrics = {
            **last_val,
            **{k: float(v) for k, v in tested.items()},
            "time/fit_s": fit_s,
            **penalty.describe(),
            "beta": float(cfg.splitting.beta),
            "split_layers": list(cfg.splitting.layers),
            "seed": int(cfg.seed),
            "data": datamodule.settings.kind,
            "epochs": trainer.current_epoch,
            "status": "ok",
        }
        if trainer.is_global_zero:
            write_json(Path(cfg.paths.output_dir) / "metrics.json", metrics)
            print(summary_line(metrics), flush=True)
        return float(metrics[cfg.optimized_metric])
    finally:
        if any(type(lg).__name__ == "WandbLogger" for lg in trainer.loggers):
            import wandb

            wandb.finish()


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def _hydra_main(cfg: DictConfig) -> float:
    return train(cfg)


def main() -> None:
    try:
        check_group_choices(sys.argv[1:])
    except ConfigError as err:
        _fail(err)
    _hydra_main()


if __name__ == "__main__":
    main()
