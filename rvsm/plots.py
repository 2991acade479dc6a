"""PNG figures of a sweep: accuracy and sparsity vs lambda, the trade-off, training curves."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from rvsm.io import atomic_open  # noqa: E402


def _label(setting: dict) -> str:
    """Curves are per penalty, and per a for Tl1 (a changes what lambda means)."""
    a = setting.get("a")
    return setting["penalty"] if a is None else f"{setting['penalty']} a={a:g}"


def _series(settings: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for s in sorted(settings, key=lambda s: s["lam"]):
        out.setdefault(_label(s), []).append(s)
    return out


def _save(fig, path: Path) -> Path:
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _vs_lambda(settings: list[dict], metric: str, ylabel: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for label, points in _series(settings).items():
        if points[0]["penalty"] == "none":  # lam = 0 has no place on a log axis
            ax.axhline(points[0][f"{metric}_mean"], ls="--", color="grey", label="dense")
            continue
        ax.errorbar(
            [p["lam"] for p in points],
            [p[f"{metric}_mean"] for p in points],
            yerr=[p[f"{metric}_std"] or 0.0 for p in points],
            marker="o",
            capsize=3,
            label=label,
        )
    ax.set_xscale("log")
    ax.set_xlabel("lambda")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(sparsity, accuracy) points that no other point beats on both, by sparsity."""
    front = [p for p in points if not any(q[0] >= p[0] and q[1] >= p[1] and q != p for q in points)]
    return sorted(set(front))


def _trade_off(settings: list[dict], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    by_penalty: dict[str, list[dict]] = {}
    for s in settings:
        by_penalty.setdefault(s["penalty"], []).append(s)
    for penalty, group in sorted(by_penalty.items()):
        xs = [s["sparsity_fc_mean"] for s in group]
        ys = [s["test_acc_mean"] for s in group]
        (line,) = ax.plot(xs, ys, "o", alpha=0.6, label=penalty)
        front = pareto_front(list(zip(xs, ys, strict=True)))
        ax.plot(*zip(*front, strict=True), "-", color=line.get_color(), drawstyle="steps-post")
    ax.set_xlabel("FC sparsity (fraction of exact zeros)")
    ax.set_ylabel("test accuracy (sparse net)")
    ax.set_title("points: settings (mean over seeds); lines: Pareto fronts", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
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


def _curves(runs: list[dict], path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    colors: dict[str, str] = {}
    for run in runs:
        curve = read_curves(run["dir"])
        if not curve:
            continue
        label = _label(run)
        color = colors.setdefault(label, f"C{len(colors) % 10}")
        xs = sorted(curve)
        for ax, key in zip(axes, ("val/acc", "val/sparsity_fc"), strict=True):
            ys = [curve[e].get(key) for e in xs]
            ax.plot(xs, ys, color=color, alpha=0.6, label=label)
    for ax, title in zip(axes, ("validation accuracy (sparse)", "FC sparsity"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        ax.legend(unique.values(), unique.keys(), fontsize=7)
    return _save(fig, path)


def write_plots(settings: list[dict], runs: list[dict], stem: Path) -> list[Path]:
    """The four figures next to ``stem``: ``<stem>_<name>.png``."""
    if not settings:
        return []
    name = stem.name
    return [
        _vs_lambda(
            settings, "test_acc", "test accuracy", stem.with_name(f"{name}_acc_vs_lambda.png")
        ),
        _vs_lambda(
            settings, "sparsity_fc", "FC sparsity", stem.with_name(f"{name}_sparsity_vs_lambda.png")
        ),
        _trade_off(settings, stem.with_name(f"{name}_pareto.png")),
        _curves(runs, stem.with_name(f"{name}_curves.png")),
    ]
