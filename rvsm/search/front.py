"""The search's results in its sweep folder, rewritten after every batch: ``pareto.csv`` (the
trials on the validation front: settings, validation and test numbers, run folder),
``pareto.png`` (every trial, the front chosen on validation, the same trials' test numbers beside
it, which choose nothing) and ``hypervolume.png`` (the front's hypervolume after each trial,
optuna's plot, from ``reference_point``)."""

from __future__ import annotations

import csv
import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from optuna.exceptions import ExperimentalWarning  # noqa: E402
from optuna.trial import FrozenTrial, TrialState  # noqa: E402

from rvsm.search.outcome import test_twin  # noqa: E402
from rvsm.utils.io import atomic_open  # noqa: E402

RUN_DIR = "run_dir"  # user attribute: the trial's job folder


def front_rows(study: optuna.Study, objectives: Sequence[str]) -> list[dict]:
    """One row per trial on the validation front (``study.best_trials``), by the last
    objective."""
    front = sorted(study.best_trials, key=lambda t: (t.values[-1], t.number))
    params = list(dict.fromkeys(k for t in front for k in t.params))
    return [
        {
            "trial": t.number,
            **{k: t.params.get(k, "") for k in params},
            **dict(zip(objectives, t.values, strict=True)),
            **{test_twin(k): t.user_attrs.get(test_twin(k), "") for k in objectives},
            "run": t.user_attrs.get(RUN_DIR, ""),
        }
        for t in front
    ]


def _save(fig, path: Path) -> Path:
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _panel(ax, trials: list[FrozenTrial], front: list[FrozenTrial], point, title: str) -> None:
    """Trials as (x, y) = ``point(trial)`` (None: not known), the front's trials marked."""
    shown = [(t, point(t)) for t in trials if point(t) is not None]
    ax.scatter([p[0] for _, p in shown], [p[1] for _, p in shown], c="0.7", s=18, label="trial")
    marked = sorted((p, t.number) for t in front if (p := point(t)) is not None)
    ax.plot([p[0] for p, _ in marked], [p[1] for p, _ in marked], "o-", c="tab:red", label="front")
    for p, number in marked:
        ax.annotate(str(number), p, textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")


def write_front(
    study: optuna.Study,
    objectives: Sequence[str],
    reference_point: Sequence[float],
    out_dir: Path,
) -> list[Path]:
    """Write the search's result files into ``out_dir``; their paths."""
    rows = front_rows(study, objectives)
    written = [out_dir / "pareto.csv"]
    with atomic_open(written[0], "w") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["trial"])
        writer.writeheader()
        writer.writerows(rows)
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(objectives) < 2 or not done:
        return written
    failed = len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
    y, x = objectives[0], objectives[1]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)

    def test_point(t: FrozenTrial):
        p = t.user_attrs.get(test_twin(x)), t.user_attrs.get(test_twin(y))
        return None if None in p else p

    _panel(
        axes[0],
        done,
        study.best_trials,
        lambda t: (t.values[1], t.values[0]),
        f"validation: {len(done)} trials done, {failed} failed; the front is chosen here",
    )
    _panel(axes[1], done, study.best_trials, test_point, "test: the same trials (chooses nothing)")
    axes[0].set_ylabel(y)
    for ax, stage in zip(axes, (x, test_twin(x)), strict=True):
        ax.set_xlabel(stage)
    written.append(_save(fig, out_dir / "pareto.png"))
    with warnings.catch_warnings(), plt.rc_context():  # optuna sets its own style: kept inside
        warnings.simplefilter("ignore", ExperimentalWarning)
        ax = optuna.visualization.matplotlib.plot_hypervolume_history(study, reference_point)
        written.append(_save(ax.figure, out_dir / "hypervolume.png"))
    return written
