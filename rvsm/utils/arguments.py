"""Checks of a constructor's arguments, each failure one line naming the config key.

Methods, penalties and the run's own settings validate themselves with these, so that a bad
value is refused the same way whether it comes from the command line, a preset or a sweep.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def number(v: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def integer(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def positive(v: Any) -> bool:
    return number(v) and v > 0


def non_negative(v: Any) -> bool:
    return number(v) and v >= 0


def flag(v: Any) -> bool:
    return isinstance(v, bool)


def optional(ok: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """``ok``, or null (None: the setting is off)."""
    return lambda v: v is None or ok(v)


class ArgumentError(ValueError):
    """A refused argument: ``key`` is the argument's own name (``beta``); the config layer that
    built the part puts its path in front (``method.beta``) with ``under``, so the same class
    built from Python names its argument and built from a config names the key a user types."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}{'' if problem.startswith((':', ';')) else ' '}{problem}")
        self.key, self.problem = key, problem

    def __reduce__(self):  # pickled with its two parts (an error crossing processes)
        return type(self), (self.key, self.problem)

    def under(self, prefix: str) -> ArgumentError:
        """The same error named by its config path (a key already under ``prefix`` is kept)."""
        if not prefix or self.key == prefix or self.key.startswith(f"{prefix}."):
            return self
        return ArgumentError(f"{prefix}.{self.key}", self.problem)


def require(key: str, value: Any, ok: Callable[[Any], bool] | bool, expected: str) -> None:
    """Raise ArgumentError("<key> must be <expected>, got <value>") unless ``ok`` holds."""
    try:
        good = ok(value) if callable(ok) else ok
    except (TypeError, ValueError):
        good = False
    if not good:
        raise ArgumentError(key, f"must be {expected}, got {value!r}")
