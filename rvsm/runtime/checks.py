"""The run's own settings (seed, threads, epochs, resume), checked before anything is built.

Each failure is one line naming the key and what it accepts. Only settings that belong to no
part are here: a method, a penalty, the network and the data validate their own settings when
they are built (``rvsm.runtime.build``), and ``rvsm.runtime.precheck`` builds every point of a
sweep before the first job starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from rvsm.methods.rvsm import RVSMSettings
from rvsm.runtime import resolvers as _resolvers  # noqa: F401  (registers ${rvsm.*:...})
from rvsm.utils.arguments import integer as _int
from rvsm.utils.arguments import number as _number

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def composed(overrides: Sequence[str] = (), hydra_keys: bool = False) -> DictConfig:
    """The train config as ``python -m rvsm.train OVERRIDES`` composes it (Hydra's own keys too,
    with ``hydra_keys``), for a script or test that reads settings without running a job."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", list(overrides), return_hydra_config=hydra_keys)


# names that moved, old -> new: RVSM's knobs left the top-level `splitting` node (which keeps
# only the layers every method sparsifies) for its own config, conf/method/rvsm.yaml
MOVED = {
    f"splitting.{name}": f"method.{name}"
    for name in RVSMSettings.__dataclass_fields__
    if name != "max_epochs"
}


def moved(key: str, given: str | None = None) -> str:
    """The one line refusing an old name: what it is now, and ``given`` rewritten with it."""
    new = MOVED[key]
    use = given.replace(key, new, 1) if given else f"{new}=..."
    return f"{key} is now {new} (a method's settings are in conf/method/<name>.yaml): use {use}"


class ConfigError(ValueError):
    """A setting that cannot work; the message names the key."""


def root_cause(err: BaseException) -> BaseException:
    """The error that Hydra's instantiate wrapped (itself if it wrapped none)."""
    while isinstance(err, InstantiationException) and err.__cause__ is not None:
        err = err.__cause__
    return err


def root_message(err: BaseException) -> str:
    """First line of the error that Hydra's instantiate wrapped."""
    err = root_cause(err)
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


@dataclass(frozen=True)
class Rule:
    key: str
    ok: Callable[[Any], bool]
    expected: str


RULES: tuple[Rule, ...] = (
    Rule("seed", _int, "an integer"),
    Rule("threads", lambda v: _int(v) and v >= 1, "an integer >= 1 (or null)"),
    Rule(
        "splitting.layers",
        lambda v: isinstance(v, Sequence) and all(isinstance(x, str) for x in v),
        "a list of layer names, e.g. [fc] or [conv3,fc]",
    ),
    Rule("model.optimizer.lr", lambda v: _number(v) and v > 0, "a number > 0"),
    Rule("stop_after_epochs", lambda v: _int(v) and v >= 1, "an integer >= 1 (or null)"),
    Rule("failed_objective", _number, "a finite number"),
    Rule("ckpt_path", lambda v: isinstance(v, str) and v != "", "`last` or a checkpoint file"),
    Rule("auto_resume", lambda v: isinstance(v, bool), "true or false"),
    Rule("skip_finished", lambda v: isinstance(v, bool), "true or false"),
    Rule(
        "trainer.max_epochs",
        lambda v: _int(v) and (v >= 1 or v == -1),
        "an integer >= 1 (or -1 for no limit)",
    ),
)


def validate(cfg: DictConfig, rules: Sequence[Rule] = RULES) -> None:
    """Raise ConfigError for an old name a config file still sets (``MOVED``), then for the
    first setting in ``rules`` that is present and out of range."""
    for key in MOVED:
        if OmegaConf.select(cfg, key, default=None) is not None:
            raise ConfigError(moved(key))
    for rule in rules:
        value = OmegaConf.select(cfg, rule.key, default=None)
        if value is None:
            continue
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
        try:
            ok = rule.ok(value)
        except (TypeError, AttributeError):
            ok = False
        if not ok:
            raise ConfigError(f"{rule.key} must be {rule.expected}, got {value!r}")
