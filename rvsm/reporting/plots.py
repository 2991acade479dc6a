"""PNG figures of a report: the accuracy / FC sparsity trade-off, accuracy and sparsity vs lambda,
validation curves. Colours follow ``rvsm.reporting.settings.family`` (the method, and RVSM's
penalty)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from rvsm.reporting.settings import data_label, family  # noqa: E402
from rvsm.utils.io import atomic_open  # noqa: E402

MARKERS = "osD^vP*X"


class _Styles:
    """One colour and marker per family, the same in every figure of a report."""

    def __init__(self, settings: list[dict]) -> None:
        names = sorted({family(s) for s in settings})
        self.style = {
            name: {"color": f"C{i % 10}", "marker": MARKERS[i % len(MARKERS)]}
            for i, name in enumerate(names)
        }

    def __call__(self, setting: dict) -> dict:
        return self.style[family(setting)]


def _by_data(settings: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for s in settings:
        out.setdefault(data_label(s), []).append(s)
    return out


def _save(fig, path: Path) -> Path:
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _pareto(settings: list[dict], styles: _Styles, path: Path) -> Path:
    """Test accuracy vs test FC sparsity, mean +- std over seeds per setting, one panel per data
    setting; each family's line joins its settings on its validation front (chosen on val)."""
    panels = _by_data(settings)
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.2), squeeze=False)
    for ax, (data, group) in zip(axes[0], panels.items(), strict=True):
        by_family: dict[str, list[dict]] = {}
        for s in group:
            by_family.setdefault(family(s), []).append(s)
        for name, members in sorted(by_family.items()):
            style = styles(members[0])
            done = [s for s in members if s["test_acc_mean"] is not None]
            ax.errorbar(
                [s["test_sparsity_fc_mean"] for s in done],
                [s["test_acc_mean"] for s in done],
                xerr=[s["test_sparsity_fc_std"] or 0.0 for s in done],
                yerr=[s["test_acc_std"] or 0.0 for s in done],
                fmt=style["marker"],
                color=style["color"],
                capsize=3,
                alpha=0.8,
                label=name,
            )
            front = sorted(
                (s["test_sparsity_fc_mean"], s["test_acc_mean"]) for s in done if s["front"]
            )
            if front:
                ax.plot(*zip(*front, strict=True), "-", color=style["color"], alpha=0.7)
        ax.set_xlabel("FC sparsity (fraction of exact zeros, test)")
        ax.set_ylabel("test accuracy (evaluated sparse net)")
        ax.set_title(f"{data}: mean ± std over seeds; lines: fronts chosen on val", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def _series(settings: list[dict], several_data: bool) -> dict[str, list[dict]]:
    """Settings with a lambda, per family (and a for Tl1, which changes what lambda means)."""
    out: dict[str, list[dict]] = {}
    for s in sorted(settings, key=lambda s: s["lam"]):
        name = family(s) + ("" if s.get("a") is None else f" a={s['a']:g}")
        out.setdefault(name + (f" ({data_label(s)})" if several_data else ""), []).append(s)
    return out


def _vs_lambda(settings: list[dict], styles, metric: str, ylabel: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    several = len(_by_data(settings)) > 1
    for label, points in _series(settings, several).items():
        ax.errorbar(
            [p["lam"] for p in points],
            [p[f"{metric}_mean"] for p in points],
            yerr=[p[f"{metric}_std"] or 0.0 for p in points],
            marker=styles(points[0])["marker"],
            capsize=3,
            label=label,
        )
    ax.set_xscale("log")
    ax.set_xlabel("lambda")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def read_curves(run_dir: Path) -> dict[int, dict[str, float]]:
    """Per-epoch validation values from the run's CSV logs; later attempts (resumes) win."""
    epochs: dict[int, dict[str, float]] = {}
    versions = sorted(
        (run_dir / "csv").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:])
    )
    for path in [*(run_dir / "csv").glob("metrics.csv"), *versions]:  # unversioned logs first
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if row.get("val/acc"):
                    epochs[int(row["epoch"])] = {
                        k: float(row[k]) for k in ("val/acc", "val/sparsity_fc") if row.get(k)
                    }
    return epochs


def _curves(runs: list[dict], styles: _Styles, path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for run in runs:
        curve = read_curves(run["dir"])
        if not curve:
            continue
        xs = sorted(curve)
        for ax, key in zip(axes, ("val/acc", "val/sparsity_fc"), strict=True):
            ys = [curve[e].get(key) for e in xs]
            ax.plot(xs, ys, color=styles(run)["color"], alpha=0.6, label=family(run))
    for ax, title in zip(axes, ("validation accuracy (sparse)", "FC sparsity"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        ax.legend(unique.values(), unique.keys(), fontsize=7)
    return _save(fig, path)


def write_plots(settings: list[dict], runs: list[dict], stem: Path) -> list[Path]:
    """The figures next to ``stem``: ``<stem>_pareto.png``, ``<stem>_curves.png`` and, when some
    settings have a lambda, ``<stem>_acc_vs_lambda.png`` and ``<stem>_sparsity_vs_lambda.png``."""
    if not settings:
        return []
    styles = _Styles(settings)
    name = stem.name
    paths = [
        _pareto(settings, styles, stem.with_name(f"{name}_pareto.png")),
        _curves(runs, styles, stem.with_name(f"{name}_curves.png")),
    ]
    with_lam = [
        s
        for s in settings
        if isinstance(s.get("lam"), int | float) and s["lam"] > 0 and s["test_acc_mean"] is not None
    ]
    if with_lam:
        for metric, ylabel, short in (
            ("test_acc", "test accuracy", "acc"),
            ("test_sparsity_fc", "test FC sparsity", "sparsity"),
        ):
            out = stem.with_name(f"{name}_{short}_vs_lambda.png")
            paths.append(_vs_lambda(with_lam, styles, metric, ylabel, out))
    return paths
