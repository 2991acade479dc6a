"""Build a run's parts from its composed config: the checks, then method, model and data module.

The same construction serves the task (``rvsm.train``) and the command-line pre-check, which
builds every sweep point before the first job starts: each part validates its own settings in
its constructor (``rvsm.utils.arguments``), so no method or data knob is checked anywhere else.
Nothing is generated or trained here.
"""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rvsm.methods.base import SparsityMethod
from rvsm.runtime.checks import validate

# settings saved in every checkpoint (hyper_parameters.run_config): enough to rebuild the run
CHECKPOINTED = ["seed", "data", "model", "penalty", "method", "splitting", "trainer"]


def build_model(model_cfg: Any, method: Any, split_layers: list[str], image_size) -> Any:
    """The LightningModule with its method (a built one, or its config), its network built for
    images of ``image_size``: the one way a run, a test or a benchmark makes a model."""
    if not isinstance(method, SparsityMethod):
        method = instantiate(method)
    net = instantiate(model_cfg.net, image_size=list(image_size))
    return instantiate(model_cfg, net=net, method=method, split_layers=list(split_layers))


def build(cfg: DictConfig) -> tuple[Any, Any]:
    """Check the config and build the model (with its method) and the data module."""
    validate(cfg)
    datamodule = instantiate(cfg.data)
    model = build_model(cfg.model, cfg.method, list(cfg.splitting.layers), datamodule.image_size)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved["model"]["net"]["image_size"] = list(datamodule.image_size)
    model.hparams["run_config"] = {key: resolved[key] for key in CHECKPOINTED}
    return model, datamodule
