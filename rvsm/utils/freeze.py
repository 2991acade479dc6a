"""Values made hashable and comparable: settings read from a config (OmegaConf ``ListConfig``) or
from ``metrics.json`` (JSON lists) become tuples, so a frozen dataclass can hold them and a
setting can key a dict or be sorted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def freeze(value: Any) -> Any:
    """Sequences other than strings and bytes (lists, tuples, ``ListConfig``), at any depth,
    become tuples; anything else is returned as it is."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return tuple(freeze(v) for v in value)
    return value
