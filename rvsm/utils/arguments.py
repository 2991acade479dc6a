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


def require(key: str, value: Any, ok: Callable[[Any], bool] | bool, expected: str) -> None:
    """Raise ValueError("<key> must be <expected>, got <value>") unless ``ok`` holds."""
    try:
        good = ok(value) if callable(ok) else ok
    except (TypeError, ValueError):
        good = False
    if not good:
        raise ValueError(f"{key} must be {expected}, got {value!r}")
