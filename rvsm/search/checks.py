"""The search's own settings (``hydra.sweeper.*`` of ``conf/hydra/sweeper/pareto.yaml``), checked
on the command line before Hydra starts, one line naming the key; the pre-check
(``rvsm.runtime.precheck``) builds every bound and choice of the space as a job would."""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

from rvsm.runtime.checks import ConfigError, Rule, validate
from rvsm.utils.arguments import integer as _int
from rvsm.utils.arguments import number as _number
from rvsm.utils.arguments import positive as _positive

DIRECTIONS = ("maximize", "minimize")


def _objectives(v) -> bool:
    return isinstance(v, dict) and bool(v) and all(d in DIRECTIONS for d in v.values())


RULES: tuple[Rule, ...] = (
    Rule("hydra.sweeper.n_trials", lambda v: _int(v) and v >= 1, "an integer >= 1"),
    Rule(
        "hydra.sweeper.n_jobs",
        lambda v: _int(v) and v != 0,
        "an integer >= 1, or < 0 as joblib counts (-1: one per core)",
    ),
    Rule("hydra.sweeper.seed", _int, "an integer (or null)"),
    Rule(
        "hydra.sweeper.max_failure_rate", lambda v: _number(v) and 0 <= v <= 1, "a number in [0, 1]"
    ),
    Rule("hydra.sweeper.max_retry", lambda v: _int(v) and v >= 0, "an integer >= 0 (or null)"),
    Rule("hydra.sweeper.storage", lambda v: isinstance(v, str) and v, "an optuna storage URL"),
    Rule("hydra.sweeper.study_name", lambda v: isinstance(v, str) and v, "a name"),
    Rule(
        "hydra.sweeper.objectives",
        _objectives,
        f"a mapping of metrics.json keys to one of {list(DIRECTIONS)}",
    ),
    Rule("hydra.sweeper.heartbeat.interval_s", _positive, "a number of seconds > 0"),
    Rule("hydra.sweeper.heartbeat.grace_s", _positive, "a number of seconds > 0"),
)


def check_search(cfg: DictConfig, arguments: Sequence[str]) -> None:
    """Raise ConfigError for the first search setting of ``cfg`` that cannot work, with the
    command line's task ``arguments`` over its space."""
    validate(cfg, RULES)
    sweeper = cfg.hydra.sweeper
    if not sweeper.heartbeat.grace_s > sweeper.heartbeat.interval_s:
        raise ConfigError(
            "hydra.sweeper.heartbeat.grace_s must be more than heartbeat.interval_s "
            f"({sweeper.heartbeat.interval_s}), got {sweeper.heartbeat.grace_s!r}"
        )
    reference = sweeper.get("reference_point")
    reference = OmegaConf.to_container(reference) if OmegaConf.is_config(reference) else reference
    if not (
        isinstance(reference, list)
        and len(reference) == len(sweeper.objectives)
        and all(_number(x) for x in reference)
    ):
        raise ConfigError(
            "hydra.sweeper.reference_point must be one number per objective "
            f"({len(sweeper.objectives)}), got {reference!r}"
        )
    from rvsm.search.pruning import check_pruner  # optuna only for a search
    from rvsm.search.space import Space, SpaceError

    check_pruner(sweeper)

    try:
        Space.parse(sweeper.params or {}, sweeper.conditions or {}, arguments)
    except SpaceError as err:
        raise ConfigError(str(err)) from None
