"""``python -m rvsm.eval ckpt_path=<checkpoint or run folder> [data=...] [data.* overrides]``.

Tests a trained model, its sparse (evaluated) network and, where the method has one, its dense
twin, on the test split of any data setting: the data are chosen as for training (the same
``data`` group, defaults and overrides), generated and cached as usual. Only the test split is
generated (``data.n_pairs.train`` and ``val`` are 1 here; a split's pairs do not depend on the
others' counts, so the test images are those of a training run with the same data settings).
Writes ``eval.json`` in the run folder and prints one line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import hydra
import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rvsm.checkpointing import checkpoint_path, read_checkpoint
from rvsm.config_checks import ConfigError, check_command_line, validate
from rvsm.io import write_json
from rvsm.module import SparseModule
from rvsm.train import fail


def load_trained(ckpt_path: str) -> tuple[Path, SparseModule, dict]:
    """The checkpoint a path names (the file itself, or ``<run folder>/checkpoints/last.ckpt``),
    read once; the trained module rebuilt from the settings saved in it; those settings."""
    path = Path(str(ckpt_path))
    path = checkpoint_path("last", path) if path.is_dir() else checkpoint_path(str(path), path)
    state = read_checkpoint(path)
    trained = state.get("hyper_parameters", {}).get("run_config")
    if not trained:
        raise ConfigError(f"ckpt_path: {path} has no run_config (not written by rvsm.train)")
    settings = OmegaConf.create(trained)
    method = instantiate(settings.method)
    model = instantiate(settings.model, method=method, split_layers=list(settings.splitting.layers))
    model.load_state_dict(state["state_dict"])
    return path, model.eval(), trained


def check_fits(trained: dict, data: DictConfig, path: Path) -> None:
    """The network reads images of one size: refuse data of another before generating any."""
    expected = list(trained["data"]["synth"]["image_size"])
    chosen = list(data.synth.image_size)
    if chosen != expected:
        raise ConfigError(
            f"data.synth.image_size: {chosen} does not fit the network of {path}, "
            f"trained on {expected} images"
        )


def test_accuracy(model: SparseModule, data: DictConfig, trainer_cfg: DictConfig) -> dict:
    """``test/*`` numbers of the module on the test split of ``data`` (generated if needed)."""
    datamodule = instantiate(data)
    trainer = instantiate(trainer_cfg, logger=False, callbacks=[], enable_checkpointing=False)
    (tested,) = trainer.test(model, datamodule=datamodule, verbose=False)
    return {k: float(v) for k, v in tested.items()}


def prepare(cfg: DictConfig) -> tuple[Path, SparseModule, dict]:
    """Checks and loading shared by eval, severity and export: all before any data exist."""
    validate(cfg)
    if not cfg.get("ckpt_path"):
        raise ConfigError("ckpt_path: required, a checkpoint file or a run folder")
    path, model, trained = load_trained(cfg.ckpt_path)
    if "data" in cfg:
        check_fits(trained, cfg.data, path)
        instantiate(cfg.data)  # checks the data settings; generates nothing
    return path, model, trained


def evaluate(cfg: DictConfig) -> dict:
    """Test the checkpoint on the chosen data; write ``eval.json``; return what it holds."""
    try:
        path, model, trained = prepare(cfg)
    except (ValueError, InstantiationException) as err:
        fail(err)
    L.seed_everything(cfg.seed, verbose=False)
    result = {
        **test_accuracy(model, cfg.data, cfg.trainer),
        "checkpoint": str(path),
        "data": OmegaConf.to_container(cfg.data, resolve=True),
        "trained": trained,
    }
    write_json(Path(cfg.paths.output_dir) / "eval.json", result)
    numbers = " ".join(
        f"{k}={result[k]:.4f}"
        for k in ("test/acc", "test/acc_dense", "test/sparsity_fc")
        if k in result
    )
    synth = cfg.data.synth
    print(
        f"rvsm: eval {path} on {synth.kind} data, severity {synth.tremor.severity:g} "
        f"(trained on {trained['data']['synth']['kind']}) | {numbers}",
        flush=True,
    )
    return result


def run_task(task: Callable[[DictConfig], object], config_name: str) -> None:
    """The command line of a model-use task: checked in one line per problem, then Hydra runs
    ``task`` on ``conf/<config_name>.yaml`` (shared by eval, severity and export)."""
    try:
        check_command_line(sys.argv[1:], config_name=config_name)
    except ConfigError as err:
        fail(err)
    hydra.main(version_base="1.3", config_path="../conf", config_name=config_name)(task)()


if __name__ == "__main__":
    run_task(evaluate, "eval")
