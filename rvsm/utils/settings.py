"""A part's settings as one frozen dataclass: each field declares its default, its check and how
reports name it, so validation, ``describe()`` and the one-line summary follow from the
declaration and a new knob is one field (plus its line in the part's config file).

Pure Python: errors name the field (``beta must be a number > 0, got -1``); the config layer
that builds the part puts the config path in front (``rvsm.utils.arguments.ArgumentError``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from rvsm.utils.arguments import ArgumentError, require


def knob(
    default: Any,
    ok: Callable[[Any], bool] | None = None,
    expected: str = "",
    *,
    label: str | None = None,
    main: bool = False,
    summary: bool = False,
    described: bool = True,
) -> Any:
    """A settings field: ``ok(value)`` must hold (``expected`` says what it accepts);
    ``label`` is its name in ``metrics.json`` and reports (default: the field's name); ``main``
    names it in every report label of a setting (what the method is swept over), ``summary`` in
    the run's one-line summary (main knobs are there too); ``described=False`` keeps a run-time
    input (the run's epochs) out of the description."""
    meta = {"ok": ok, "expected": expected, "label": label, "main": main, "summary": summary}
    return dataclasses.field(default=default, metadata={**meta, "described": described})


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of a part's settings; subclasses add fields with ``knob`` and cross-field checks in
    ``check``."""

    #: settings shown only when this holds for the settings (field name -> predicate)
    shown_if: ClassVar[Mapping[str, Callable[[Any], bool]]] = {}

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            ok = field.metadata.get("ok")
            if ok is not None:
                require(field.name, getattr(self, field.name), ok, field.metadata["expected"])
        self.check()

    def check(self) -> None:
        """Checks between fields (each field's own check has passed); raise ArgumentError."""

    @classmethod
    def from_knobs(cls, knobs: Mapping[str, Any]) -> Settings:
        """The settings from keyword arguments; an unknown one is refused by name."""
        names = [f.name for f in dataclasses.fields(cls)]
        for key in knobs:
            if key not in names:
                raise ArgumentError(key, f"is not a setting of this method; its settings: {names}")
        return cls(**knobs)

    def described(self) -> dict[str, Any]:
        """The settings as ``metrics.json`` and reports name them, in declaration order."""
        return {
            field.metadata.get("label") or field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.metadata.get("described", True)
            and self.shown_if.get(field.name, lambda _: True)(self)
        }

    @classmethod
    def labels(cls, kind: str) -> tuple[str, ...]:
        """The report names of the fields marked ``main`` (or ``summary``: main ones too)."""
        keys = ("main",) if kind == "main" else ("main", "summary")
        return tuple(
            f.metadata.get("label") or f.name
            for f in dataclasses.fields(cls)
            if any(f.metadata.get(k) for k in keys)
        )
