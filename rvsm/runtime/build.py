"""Build a run's parts from its composed config: the checks, then method, model and data module.

The same construction serves the task (``rvsm.train``) and the command-line pre-check, which
builds every sweep point before the first job starts: each part validates its own settings in
its constructor (``rvsm.utils.arguments``), naming its own argument (``beta``); here, where the
config is known, the config path goes in front (``method.beta``), so a refusal names the key a
user types. Nothing is generated or trained here.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from rvsm.methods.base import SparsityMethod
from rvsm.runtime.checks import root_cause, validate
from rvsm.utils.arguments import ArgumentError

# settings saved in every checkpoint (hyper_parameters.run_config): enough to rebuild the run
CHECKPOINTED = ["seed", "data", "model", "penalty", "method", "splitting", "trainer"]
# the config keys of the arguments the run gives the network and the module, not their groups
RUN_KEYS = {"layers": "splitting.layers"}


@contextmanager
def config_path(prefix: str, keys: Mapping[str, str] | None = None):
    """Errors of a part built here named by their config key: ``prefix.<argument>``, or the key
    ``keys`` gives for an argument that comes from elsewhere in the config."""
    try:
        yield
    except Exception as err:
        cause = root_cause(err)
        if not isinstance(cause, ArgumentError):
            raise
        moved = (keys or {}).get(cause.key)
        raise (ArgumentError(moved, cause.problem) if moved else cause.under(prefix)) from None


def build_method(method_cfg: Any, penalty_cfg: Any = None) -> SparsityMethod:
    """The method of a config, given the penalty built from ``penalty_cfg`` when it takes one
    (a checkpoint written before the method and the penalty were separate holds it inside)."""
    extra = {}
    takes_penalty = getattr(get_class(method_cfg["_target_"]), "takes_penalty", False)
    if takes_penalty and "penalty" not in method_cfg:
        with config_path("penalty"):
            extra["penalty"] = instantiate(penalty_cfg)
    with config_path("method"):
        return instantiate(method_cfg, **extra)


def build_data(data_cfg: Any) -> Any:
    """The data module of a ``data`` config (it checks its settings; nothing is made yet)."""
    with config_path("data"):
        return instantiate(data_cfg)


def build_model(
    model_cfg: Any,
    method: Any,
    split_layers: list[str],
    image_size,
    penalty_cfg: Any = None,
    image_key: str = "image_size",
    num_classes: int | None = None,
) -> Any:
    """The LightningModule with its method (a built one, or its config and ``penalty_cfg``), its
    network built for images of ``image_size`` (named ``image_key`` in errors) and, if given,
    ``num_classes`` outputs (the data's): the one way a run, a test or a benchmark makes a
    model."""
    if not isinstance(method, SparsityMethod):
        method = build_method(method, penalty_cfg)
    size = {"image_size": list(image_size)}
    if num_classes is not None:
        size["num_classes"] = int(num_classes)
    with config_path("model.net", {"image_size": image_key}):
        net = instantiate(model_cfg.net, **size)
    with config_path("model", RUN_KEYS):
        return instantiate(model_cfg, net=net, method=method, split_layers=list(split_layers))


def build(cfg: DictConfig) -> tuple[Any, Any]:
    """Check the config and build the model (with its method) and the data module."""
    validate(cfg)
    datamodule = build_data(cfg.data)
    layers, size, image_key = cfg.splitting.layers, datamodule.image_size, datamodule.image_size_key
    classes = datamodule.num_classes
    model = build_model(cfg.model, cfg.method, list(layers), size, cfg.penalty, image_key, classes)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved["model"]["net"]["image_size"] = list(datamodule.image_size)
    resolved["model"]["net"]["num_classes"] = classes
    model.hparams["run_config"] = {key: resolved[key] for key in CHECKPOINTED}
    model.hparams["run_config"]["classes"] = list(datamodule.classes)
    return model, datamodule
