"""Validation of user-facing settings, before any data is generated or any model is built.

Each failure is one line naming the key and what it accepts. ``validate`` checks a composed
config against the rule table ``RULES``; ``check_command_line`` runs before Hydra starts any
job, so that ``penalty=foo``, a misspelt key or a bad value anywhere in a sweep gets one line
instead of Hydra's multi-line error or a failure halfway through a multirun.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


class ConfigError(ValueError):
    """A setting that cannot work; the message names the key."""


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class Rule:
    key: str
    ok: Callable[[Any], bool]
    expected: str


RULES: tuple[Rule, ...] = (
    Rule("seed", _int, "an integer"),
    Rule("threads", lambda v: _int(v) and v >= 1, "an integer >= 1 (or null)"),
    Rule("penalty.lam", lambda v: _number(v) and v >= 0, "a number >= 0"),
    Rule("penalty.a", lambda v: _number(v) and v > 0, "a number > 0"),
    Rule("splitting.beta", lambda v: _number(v) and v > 0, "a number > 0"),
    Rule("splitting.beta_growth", lambda v: _number(v) and v > 0, "a number > 0 (1.0 = fixed)"),
    Rule("splitting.beta_max", lambda v: _number(v) and v > 0, "a number > 0 (or null)"),
    Rule("splitting.keep_threshold", lambda v: isinstance(v, bool), "true or false"),
    Rule("splitting.sync_every_epoch", lambda v: isinstance(v, bool), "true or false"),
    Rule("splitting.finetune_epochs", lambda v: _int(v) and v >= 0, "an integer >= 0"),
    Rule(
        "splitting.layers",
        lambda v: isinstance(v, Sequence) and all(isinstance(x, str) for x in v),
        "a list of layer names, e.g. [fc] or [conv3,fc]",
    ),
    Rule("method.sparsity", lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)"),
    Rule("method.start", lambda v: _number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    Rule("method.end", lambda v: _number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    Rule("method.every_steps", lambda v: _int(v) and v >= 1, "an integer >= 1"),
    Rule("method.lam", lambda v: _number(v) and v >= 0, "a number >= 0"),
    Rule("method.gate_lr", lambda v: _number(v) and v > 0, "a number > 0 (or null)"),
    Rule("method.init_log_alpha", _number, "a finite number"),
    Rule("model.optimizer.lr", lambda v: _number(v) and v > 0, "a number > 0"),
    Rule("data.batch_size", lambda v: _int(v) and v >= 1, "an integer >= 1"),
    Rule(
        "data.n_pairs",
        lambda v: all(_int(v.get(s)) and v.get(s) >= 1 for s in ("train", "val", "test")),
        "{train: n, val: n, test: n} with every n >= 1",
    ),
    Rule(
        "data.synth.image_size",
        lambda v: len(v) == 2 and all(_int(x) and x >= 8 for x in v),
        "[height, width], each an integer >= 8 (three 2x2 poolings)",
    ),
    Rule(
        "data.synth.body_px",
        lambda v: len(v) == 2 and all(_number(x) for x in v) and 0 < v[0] <= v[1],
        "[min, max] with 0 < min <= max",
    ),
    Rule("data.synth.supersample", lambda v: _int(v) and 1 <= v <= 8, "an integer in 1..8"),
    Rule("data.synth.tremor.severity", lambda v: _number(v) and v >= 0, "a number >= 0"),
    Rule(
        "data.synth.micrographia",
        lambda v: _number(v) and 0 <= v < 1,
        "a fraction in [0, 1) (0 = off)",
    ),
    Rule("stop_after_epochs", lambda v: _int(v) and v >= 1, "an integer >= 1 (or null)"),
    Rule("failed_objective", _number, "a finite number"),
    Rule("ckpt_path", lambda v: isinstance(v, str) and v != "", "`last` or a checkpoint file"),
    Rule(
        "trainer.max_epochs",
        lambda v: _int(v) and (v >= 1 or v == -1),
        "an integer >= 1 (or -1 for no limit)",
    ),
)


def _between_keys(cfg: DictConfig) -> str | None:
    """Checks that involve two keys; the message of the first that fails, else None."""
    split = cfg.get("splitting") or {}
    beta, beta_max = split.get("beta"), split.get("beta_max")
    if beta_max is not None and beta is not None and beta_max < beta:
        return f"splitting.beta_max must be >= splitting.beta ({beta}), got {beta_max}"
    start = OmegaConf.select(cfg, "method.start", default=None)
    end = OmegaConf.select(cfg, "method.end", default=None)
    if _number(start) and _number(end) and end < start:
        return f"method.end must be >= method.start ({start}), got {end}"
    epochs = OmegaConf.select(cfg, "trainer.max_epochs", default=None)
    finetune = split.get("finetune_epochs")
    if finetune and epochs is not None and epochs != -1 and finetune >= epochs:
        return (
            f"splitting.finetune_epochs must be < trainer.max_epochs ({epochs}), got {finetune} "
            "(a run this short: splitting.finetune_epochs=0)"
        )
    return None


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError for the first setting in ``RULES`` that is present and out of range."""
    for rule in RULES:
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
    message = _between_keys(cfg)
    if message:
        raise ConfigError(message)


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def _check_group_choices(overrides: list) -> None:
    """Reject ``group=option`` overrides whose option file does not exist."""
    groups = {p.name for p in CONF_DIR.iterdir() if p.is_dir()}
    for override in overrides:
        group = override.key_or_group
        if group not in groups or override.is_delete():
            continue
        options = group_options(group)
        for choice in _values(override):
            if choice not in options and choice != "null":
                raise ConfigError(f"{group}={choice} is not a known choice; choose from {options}")


def _values(override) -> list[str]:
    if override.is_sweep_override():
        return list(override.sweep_string_iterator())
    return [override.get_value_element_as_str()]


def _as_text(override, value: str) -> str:
    prefix = {"ADD": "+", "FORCE_ADD": "++", "DEL": "~"}.get(override.type.name, "")
    return f"{prefix}{override.get_key_element()}={value}"


def check_command_line(argv: Sequence[str], config_name: str = "train") -> None:
    """Check a command line before Hydra starts any job, in one line per problem.

    Group choices must exist, keys must exist, and every value of every sweep must pass
    ``validate``: each sweep value is composed at least once (sweeps are walked side by side,
    not as their full product), so a bad lambda in a multirun fails before the first job.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import ConfigCompositionException, OverrideParseException

    try:
        parsed = OverridesParser.create().parse_overrides([a for a in argv if "=" in a])
    except OverrideParseException:  # malformed: Hydra itself reports it
        return
    _check_group_choices(parsed)
    user = [o for o in parsed if not o.key_or_group.startswith("hydra")]
    if not user:  # the config as written: each job's validate() checks it, no need to compose
        return
    values = [_values(o) for o in user]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for i in range(max(len(v) for v in values)):
            line = [_as_text(o, v[i % len(v)]) for o, v in zip(user, values, strict=True)]
            try:
                cfg = compose(config_name=config_name, overrides=line)
            except ConfigCompositionException as err:
                raise ConfigError(_composition_message(err)) from None
            validate(cfg)


def _composition_message(err: Exception) -> str:
    """Hydra's multi-line composition error as one line (unknown keys get a hint)."""
    cause = err.__cause__ or err
    text = " ".join(str(err).split())
    key = getattr(cause, "full_key", None)
    if "not in struct" in str(cause) and key:
        return f"{key}: unknown key (a typo? to add a new key use +{key}=...)"
    return text
