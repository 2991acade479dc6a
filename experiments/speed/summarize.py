"""The table of the validation choice of make train's epochs, batch size and learning rate
(experiments/speed/README.md says how the runs were made): one row per run, each setting's mean +-
sample std over the seeds, validation accuracy (the choice) beside the test accuracy (reported,
not chosen on).

    .venv/bin/python experiments/speed/summarize.py [RUNS_DIR]

RUNS_DIR (default logs/speed_select, where select.sh writes) holds multirun folders; a job's
setting is read from its own ``.hydra/overrides.yaml``. Writes ``results.md`` and ``runs.csv`` (one
row a run, which experiments/headline.py reads for make train's row) beside this file. The record
grows across sessions: a run already in ``runs.csv`` and not under RUNS_DIR is kept as it was.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from pathlib import Path

import yaml

from rvsm.reporting.stats import mean_std
from rvsm.reporting.tables import pm
from rvsm.utils.cpu import cpu_name
from rvsm.utils.io import atomic_open, write_lines

HERE = Path(__file__).parent
KNOBS = ("trainer.max_epochs", "data.batch_size", "model.optimizer.lr", "trainer.precision")
DEFAULTS = {"trainer.precision": "32-true"}  # knobs a part of select.sh does not set
COLUMNS = ("val/acc", "test/acc", "test/sparsity_fc", "time/fit_s")


def jobs(root: Path) -> list[dict]:
    """metrics.json of every finished job under ``root``, with its swept knobs as ``setting``."""
    found = []
    for path in sorted(root.glob("*/*/metrics.json")):
        overrides = yaml.safe_load((path.parent / ".hydra" / "overrides.yaml").read_text())
        given = {**DEFAULTS, **dict(o.split("=", 1) for o in overrides)}
        setting = tuple(str(float(given[k])) if "lr" in k else given[k] for k in KNOBS)
        metrics = json.loads(path.read_text())  # a collapsed or failed run was not tested: nan
        found.append({**{k: float("nan") for k in COLUMNS}, **metrics, "setting": setting})
    return sorted(found, key=lambda m: (m["setting"], m["seed"]))


def recorded() -> list[dict]:
    """The runs of ``runs.csv`` as written before, in the shape of ``jobs``."""
    if not (HERE / "runs.csv").is_file():
        return []
    with open(HERE / "runs.csv", newline="") as f:
        return [
            {
                "setting": (r["epochs"], r["batch_size"], str(float(r["lr"])), r["precision"]),
                "seed": int(r["seed"]),
                "status": r["status"],
                **{k: float(r[k]) for k in COLUMNS},
            }
            for r in csv.DictReader(f)
        ]


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "logs/speed_select")
    new = jobs(root)
    fresh = {(m["setting"], m["seed"]) for m in new}
    kept = [m for m in recorded() if (m["setting"], m["seed"]) not in fresh]
    found = sorted(kept + new, key=lambda m: (m["setting"], m["seed"]))
    settings = sorted(
        {m["setting"] for m in found}, key=lambda s: (-int(s[0]), int(s[1]), s[2], s[3])
    )
    means, rows = [], []
    for setting in settings:
        runs = [m for m in found if m["setting"] == setting]
        stats = [
            pm(*mean_std([m[k] for m in runs]), digits=1 if "time" in k else 4) for k in COLUMNS
        ]
        means.append(
            f"| {' | '.join(setting)} | {', '.join(str(m['seed']) for m in runs)} | "
            + " | ".join(stats)
            + " |"
        )
        for m in runs:
            cells = [f"{m[k]:.1f}" if "time" in k else f"{m[k]:.4f}" for k in COLUMNS]
            rows.append(
                f"| {' | '.join(setting)} | {m['seed']} | {m['status']} | "
                + " | ".join(cells)
                + " |"
            )
    head = "| epochs | batch | lr | precision |"
    lines = [
        "# make train's epochs, batch size and learning rate, chosen on validation",
        "",
        f"Written by `experiments/speed/summarize.py` on {time.strftime('%Y-%m-%d')} from the runs "
        f"of `experiments/speed/select.sh`: {os.cpu_count()} cores ({cpu_name()}), two one-thread "
        "jobs at a time (so fit seconds are a one-thread job's, beside another).",
        "",
        f"{head} seeds | val acc | test acc | test FC zeros | fit s |",
        "|---|---|---|---|---|---|---|---|---|",
        *means,
        "",
        f"{head} seed | status | val acc | test acc | test FC zeros | fit s |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    write_lines(HERE / "results.md", lines)
    with atomic_open(HERE / "runs.csv", "w") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["epochs", "batch_size", "lr", "precision", "seed", "status", *COLUMNS])
        for m in found:
            out.writerow([*m["setting"], m["seed"], m["status"], *(m[k] for k in COLUMNS)])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
