"""Statistics over seeds: one row per setting, mean +- std of each measure, ranks and Pareto
fronts chosen on the **validation** numbers (test numbers are carried beside, never used to
choose, so that they stay an unbiased estimate of the chosen settings)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from rvsm.reporting.settings import (
    DATA_KEYS,
    family,
    label_settings,
    main_knobs,
    setting_key,
    setting_of,
)
from rvsm.utils.freeze import freeze

# (column stem, metrics.json key): aggregated as <stem>_mean and <stem>_std over seeds
MEASURES = (
    ("val_acc", "val/acc"),
    ("val_sparsity_fc", "val/sparsity_fc"),
    ("test_acc", "test/acc"),
    ("test_acc_dense", "test/acc_dense"),
    ("test_sparsity_fc", "test/sparsity_fc"),
    ("fit_s", "time/fit_s"),
    ("test_flops", "test/flops_fraction"),
)


def mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample std of the finite values (std None for one value; both None for none)."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def on_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points (both coordinates maximised) that no other point beats on both;
    equal points are all kept."""
    return [
        i
        for i, p in enumerate(points)
        if not any(q[0] >= p[0] and q[1] >= p[1] and q != p for q in points)
    ]


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(sparsity, accuracy) points that no other point beats on both, by sparsity."""
    return sorted({points[i] for i in on_front(points)})


def hypervolume(points: Sequence[tuple[float, float]], reference: tuple[float, float]) -> float:
    """Area dominated by ``points`` (both coordinates maximised) and above ``reference`` in
    both: the staircase swept from the largest first coordinate down; a point not above the
    reference in both adds nothing."""
    above = sorted((p for p in points if p[0] > reference[0] and p[1] > reference[1]), reverse=True)
    area, top = 0.0, reference[1]
    for x, y in above:
        if y > top:
            area += (x - reference[0]) * (y - top)
            top = y
    return area


def _on_front(settings: list[dict]) -> set[int]:
    """Indices of the settings on the validation front (mean val accuracy vs val FC sparsity)."""
    points = {
        i: (s["val_sparsity_fc_mean"], s["val_acc_mean"])
        for i, s in enumerate(settings)
        if s["val_sparsity_fc_mean"] is not None and s["val_acc_mean"] is not None
    }
    front = set(pareto_front(list(points.values())))
    return {i for i, p in points.items() if p in front}


def aggregate(rows: list[dict]) -> list[dict]:
    """One row per setting: its keys, seeds, mean +- sample std of each measure over seeds, and
    per data setting its rank by validation accuracy and its place on the validation fronts."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(setting_key(row), []).append(row)
    settings = []
    for runs in groups.values():
        out = {
            **setting_of(runs[0]),
            "key": setting_key(runs[0]),
            "main_knobs": main_knobs(runs[0]),
            "seeds": sorted(r["seed"] for r in runs),
        }
        for stem, metric in MEASURES:
            out[f"{stem}_mean"], out[f"{stem}_std"] = mean_std([r.get(metric) for r in runs])
        settings.append(out)
    label_settings(settings)
    by_data: dict[tuple, list[dict]] = {}
    for s in settings:
        by_data.setdefault(tuple(freeze(s.get(k)) for k in DATA_KEYS), []).append(s)
    ranked = []
    # the data kinds by name; within one, the default severity (1) before the harder ones
    for _, group in sorted(by_data.items(), key=lambda kv: (str(kv[0][0]), _desc(kv[0][1]))):
        group.sort(
            key=lambda s: (
                s["val_acc_mean"] is None,
                -(s["val_acc_mean"] or 0.0),
                -(s["val_sparsity_fc_mean"] or 0.0),
                s["label"],
            )
        )
        overall = _on_front(group)
        families: dict[str, list[int]] = {}
        for i, s in enumerate(group):
            families.setdefault(family(s), []).append(i)
        own = {idx[j] for idx in families.values() for j in _on_front([group[i] for i in idx])}
        for i, s in enumerate(group):
            s["rank"] = i + 1 if s["val_acc_mean"] is not None else None
            s["front"] = "all" if i in overall else "method" if i in own else ""
        ranked += group
    return ranked


def _desc(value) -> tuple:
    """Sort key: numbers in descending order, then anything else."""
    number = isinstance(value, int | float)
    return (not number, -value if number else 0, str(value))
