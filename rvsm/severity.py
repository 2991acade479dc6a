"""``python -m rvsm.severity ckpt_path=<checkpoint or run folder> [severities=[...]] [data...]``.

How mild a tremor the trained model still detects: sparse and dense test accuracy on the chosen
data at each tremor severity (the tremor's amplitude scale, 1 = the training default), written as
``severity.csv`` and ``severity.png`` in the run folder, with the severity at which the sparse
network's accuracy first reaches 0.9 read off by linear interpolation. At severity near 0 the
two classes are the same text, so accuracy must fall towards chance (0.5): if it does not, the
classifier sees something other than tremor, and this says so.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import lightning as L
from hydra.errors import InstantiationException
from omegaconf import DictConfig

from rvsm.data import describe_data
from rvsm.data.source import AtSeverity, capable
from rvsm.runtime.checks import ConfigError
from rvsm.runtime.cli import fail, run_task
from rvsm.trained import accuracies, prepare, test_accuracy
from rvsm.utils.io import atomic_open, write_csv

LEVEL = 0.9  # the accuracy whose severity is read off
CHANCE_MARGIN = 0.6  # above this at the smallest severity, the classifier sees something else


def crossing(severities: list[float], accuracies: list[float], level: float = LEVEL):
    """The smallest severity at which accuracy reaches ``level`` (linear between points), or
    None if it never does; the first point if it is already there."""
    points = sorted(zip(severities, accuracies, strict=True))
    if points[0][1] >= level:
        return points[0][0]
    for (s0, a0), (s1, a1) in itertools.pairwise(points):
        if a0 < level <= a1:
            return s0 + (level - a0) * (s1 - s0) / (a1 - a0)
    return None


def _plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    xs = [r["severity"] for r in rows]
    ax.plot(xs, [r["acc"] for r in rows], "o-", label="sparse (evaluated)")
    if all(r["acc_dense"] is not None for r in rows):
        ax.plot(xs, [r["acc_dense"] for r in rows], "s--", label="dense twin")
    ax.axhline(LEVEL, color="grey", lw=0.8, ls=":")
    ax.axhline(0.5, color="grey", lw=0.8)
    ax.set(xlabel="tremor severity (1 = training default)", ylabel="test accuracy", title=title)
    ax.set_ylim(0.4, 1.01)
    ax.legend(loc="lower right")
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def severity_curve(cfg: DictConfig) -> list[dict]:
    try:
        if not cfg.severities or min(cfg.severities) < 0:
            raise ConfigError(f"severities must be a list of numbers >= 0, got {cfg.severities}")
        path, model, trained, datamodule = prepare(cfg)
        capable(datamodule, AtSeverity, "rvsm.severity (a curve over tremor severity)")
    except (ValueError, InstantiationException) as err:
        fail(err)
    rows = []
    for severity in sorted(cfg.severities):
        L.seed_everything(cfg.seed, verbose=False)
        tested = test_accuracy(model, datamodule.at_severity(float(severity)), cfg.trainer)
        rows.append({"severity": float(severity), **accuracies(tested)})
    out = Path(cfg.paths.output_dir)
    write_csv(out / "severity.csv", rows, ["severity", "acc", "acc_dense"])
    title = (
        f"{describe_data(trained['data'])['data']}-trained model on "
        f"{datamodule.describe()['data']} data"
    )
    _plot(rows, out / "severity.png", title)
    at = crossing([r["severity"] for r in rows], [r["acc"] for r in rows])
    print(
        f"rvsm: severity curve of {path} -> {out / 'severity.csv'}; sparse accuracy reaches "
        f"{LEVEL} at severity {'never' if at is None else f'{at:.3g}'}",
        flush=True,
    )
    if rows[0]["acc"] > CHANCE_MARGIN:
        print(
            f"rvsm: warning: accuracy {rows[0]['acc']:.3f} at severity {rows[0]['severity']:g} is "
            "far above chance: the classifier sees something besides the tremor",
            flush=True,
        )
    return rows


if __name__ == "__main__":
    run_task(severity_curve, "severity")
