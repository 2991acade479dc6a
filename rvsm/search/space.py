"""The search space: Hydra's sweep syntax as optuna distributions, and each trial's job overrides.

The space is ``hydra.sweeper.params`` (the config file) with the command line's task overrides
over it, in the syntax the other Hydra sweepers read: ``choice(a,b)`` (or ``a,b``) is
categorical, ``range(i,j[,step])`` an integer range (``j`` excluded, as in Hydra),
``interval(lo,hi)`` uniform (an integer under ``int(...)``), ``tag(log,interval(lo,hi))``
log-uniform. A plain value on the command line replaces a search over the same key and goes to
every job as written. ``conditions`` (``key: other=value``) searches a key only in trials where
``other`` takes ``value`` (Tl1's ``penalty.a`` only with ``penalty=tl1``), so that no trial sets a
key its config lacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    Glob,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from hydra.errors import OverrideParseException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)


class SpaceError(ValueError):
    """A search-space setting that cannot be searched; the message names the key."""


def _distribution(override: Override) -> BaseDistribution:
    value = override.value()
    if isinstance(value, ChoiceSweep):
        choices = override.sweep_iterator(transformer=Transformer.encode)
        return CategoricalDistribution(list(choices))
    if isinstance(value, RangeSweep):
        if any(isinstance(x, float) for x in (value.start, value.stop, value.step)):
            raise ValueError("range() takes integers here; use interval() for floats")
        return IntDistribution(int(value.start), int(value.stop) - 1, step=int(value.step))
    if isinstance(value, IntervalSweep):
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    if isinstance(value, Glob):
        raise ValueError("glob() is not searched; list the choices with choice()")
    raise ValueError(f"{type(value).__name__} is not searched")


def _text(value) -> str:
    """A value as Hydra's override grammar reads it back."""
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else str(value)


@dataclass(frozen=True)
class Space:
    """The searched keys (in the order given), their conditions, and the fixed overrides."""

    distributions: dict[str, BaseDistribution]
    conditions: dict[str, tuple[str, str]]
    fixed: dict[str, Override]

    @classmethod
    def parse(
        cls, params: Mapping[str, object], conditions: Mapping[str, str], arguments: Sequence[str]
    ) -> Space:
        """The space of ``params`` (config), with the command line's ``arguments`` over it."""
        lines = [*(f"{k}={v}" for k, v in params.items()), *arguments]
        try:
            parsed = OverridesParser.create().parse_overrides(lines)
        except OverrideParseException as err:
            raise SpaceError(f"hydra.sweeper.params: {' '.join(str(err).split())}") from None
        distributions: dict[str, BaseDistribution] = {}
        fixed: dict[str, Override] = {}
        for override in parsed:  # a later one replaces an earlier one, keeping its place
            key = override.get_key_element().lstrip("+~")
            if not override.is_sweep_override():
                distributions.pop(key, None)
                fixed[key] = override
                continue
            fixed.pop(key, None)
            try:
                distributions[key] = _distribution(override)
            except ValueError as err:
                raise SpaceError(f"{key}: {err}") from None
        return cls(distributions, _conditions(conditions, distributions, fixed), fixed)

    def suggest(self, trial: optuna.Trial) -> list[str]:
        """Ask ``trial`` for a value of each searched key whose condition holds; the overrides of
        its job: the suggested values, then the fixed ones."""
        chosen = {k: _text(o.value()) for k, o in self.fixed.items()}
        out = []
        for key, dist in self.distributions.items():
            other, wanted = self.conditions.get(key, (None, None))
            if other is not None and chosen.get(other) != wanted:
                continue
            chosen[key] = _text(_suggest(trial, key, dist))
            out.append(f"{key}={chosen[key]}")
        return out + [o.input_line for o in self.fixed.values()]


def _suggest(trial: optuna.Trial, key: str, dist: BaseDistribution):
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(key, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(key, dist.low, dist.high, step=dist.step, log=dist.log)
    assert isinstance(dist, FloatDistribution)
    return trial.suggest_float(key, dist.low, dist.high, step=dist.step, log=dist.log)


def _conditions(
    conditions: Mapping[str, str],
    distributions: Mapping[str, BaseDistribution],
    fixed: Mapping[str, Override],
) -> dict[str, tuple[str, str]]:
    """``key: other=value`` as ``{key: (other, value)}``; ``other`` must be searched before
    ``key`` or set, and ``key`` searched."""
    out = {}
    order = list(distributions)
    for key, condition in conditions.items():
        where = f"hydra.sweeper.conditions.{key}"
        other, sep, wanted = str(condition).partition("=")
        if not sep or not other or not wanted:
            raise SpaceError(f"{where} must read other_key=value, got {condition!r}")
        if key not in distributions:
            if key in fixed:
                continue  # set on the command line: no longer searched
            raise SpaceError(f"{where}: {key} is not searched (not in hydra.sweeper.params)")
        searched_before = other in order and order.index(other) < order.index(key)
        if not (searched_before or other in fixed):
            raise SpaceError(f"{where}: {other} must be searched before {key}, or set")
        out[key] = (other, wanted)
    return out
