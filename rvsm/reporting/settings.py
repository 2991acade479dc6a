"""What identifies a run's setting, how it is named, and which runs share a data setting.

A setting is everything that identifies a run except its seed: the data (kind and tremor
severity), the method and every knob it wrote to ``metrics.json``, the split layers and the
epochs. Each method names its main knobs itself (``SparsityMethod.main_knobs``, written to
``metrics.json`` by the task), so nothing here lists methods.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from rvsm.utils.freeze import freeze

# keys of metrics.json (and of a run's row) that are not part of its setting
NOT_SETTING = {"run", "dir", "status", "error", "objective", "seed", "main_knobs", "config_hash"}
# runs with the same data setting share a section of the report and a panel of the Pareto plot
DATA_KEYS = ("data", "severity")
# always shown last in a setting, after the method's own knobs
LAST = ("split_layers", "batch_size", "precision", "epochs")


@functools.cache
def _known_main_knobs() -> dict[str, tuple[str, ...]]:
    """``main_knobs`` of the methods in ``rvsm.methods`` by name, for runs whose metrics.json was
    written before methods recorded them."""
    import rvsm.methods
    from rvsm.methods.base import SparsityMethod

    for info in pkgutil.iter_modules(rvsm.methods.__path__):
        importlib.import_module(f"rvsm.methods.{info.name}")
    out: dict[str, tuple[str, ...]] = {}
    todo = list(SparsityMethod.__subclasses__())
    while todo:
        cls = todo.pop()
        out.setdefault(cls.name, tuple(cls.main_knobs))
        todo += cls.__subclasses__()
    return out


def main_knobs(row: dict) -> tuple[str, ...]:
    """The knobs always named in the label of a run's setting: what its method is swept over."""
    if "main_knobs" in row:
        return tuple(row["main_knobs"])
    return _known_main_knobs().get(str(row.get("method")), ())


def knob_order(keys, main: tuple[str, ...]) -> list[str]:
    """Data keys, the method, its main knobs, its other knobs in the order given (the order its
    ``describe()`` lists them, as metrics.json keeps it), then ``LAST``."""
    keys = list(dict.fromkeys(keys))

    def rank(key: str) -> tuple:
        for i, group in enumerate((DATA_KEYS, ("method",), main)):
            if key in group:
                return (i, group.index(key))
        return (4, LAST.index(key)) if key in LAST else (3, keys.index(key))

    return sorted(keys, key=rank)


def setting_of(row: dict) -> dict:
    """The keys that identify a run's setting (all but its results, seed and bookkeeping)."""
    keys = knob_order((k for k in row if "/" not in k and k not in NOT_SETTING), main_knobs(row))
    return {k: row[k] for k in keys}


def setting_key(row: dict) -> tuple:
    return tuple((k, freeze(v)) for k, v in setting_of(row).items())


def family(setting: dict) -> str:
    """What gets one colour and one Pareto front: the method, and RVSM's penalty."""
    if setting.get("method") == "rvsm" and setting.get("penalty"):
        return f"rvsm-{setting['penalty']}"
    return str(setting.get("method"))


def data_label(setting: dict) -> str:
    severity = setting.get("severity")
    return f"{setting.get('data')}" + (
        "" if severity is None else f", severity {knob_text(severity)}"
    )


def knob_text(value) -> str:
    """A setting's value as written in its label: 1e-05, 0.9, 1.5, fc,conv3."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def label_settings(settings: list[dict]) -> None:
    """Name each setting by its method, its main knobs and the knobs that vary within its
    method; record the knobs that do not (``fixed``), so the tables stay narrow."""
    by_method: dict[str, list[dict]] = {}
    for s in settings:
        by_method.setdefault(str(s.get("method")), []).append(s)
    for method, group in by_method.items():
        main = main_knobs(group[0])
        every = [k for s in group for k, _ in s["key"] if k not in (*DATA_KEYS, "method")]
        knobs = knob_order(every, main)
        varying = {k for k in knobs if len({repr(s.get(k)) for s in group}) > 1}
        shown = [k for k in knobs if k in varying or k in main]
        fixed = {k: group[0].get(k) for k in knobs if k not in shown}
        for s in group:
            parts = [method]
            for k in shown:
                value = s.get(k)
                if value is None:
                    continue
                parts.append(knob_text(value) if k == "penalty" else f"{k}={knob_text(value)}")
            s["label"] = " ".join(parts)
            s["fixed"] = fixed
