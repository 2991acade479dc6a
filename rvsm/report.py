"""Collect the ``metrics.json`` of every run under a folder into tables and plots.

``python -m rvsm.report <folder> [--out <stem>]`` prints the Markdown report and writes
``<stem>.md``, ``<stem>.csv`` (one row per setting: mean +- std over seeds) and the PNG plots of
``rvsm.plots``; ``<stem>`` defaults to ``<folder>/report``. Runs that did not finish (diverged,
crashed, stopped, or killed before writing ``metrics.json``) are listed with their status, never
dropped silently.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import statistics
import sys
from pathlib import Path

from rvsm.io import atomic_open

# Runs with the same values of these keys are one setting; their seeds are aggregated.
SETTING = ("data", "penalty", "lam", "beta", "a", "split_layers")
RUN_COLUMNS = (
    ("run", "run"),
    ("data", "data"),
    ("penalty", "penalty"),
    ("lam", "lam"),
    ("beta", "beta"),
    ("a", "a"),
    ("layers", "split_layers"),
    ("seed", "seed"),
    ("test acc", "test/acc"),
    ("test acc dense", "test/acc_dense"),
    ("FC sparsity", "test/sparsity_fc"),
    ("fit s", "time/fit_s"),
)
SETTING_COLUMNS = (
    "data",
    "penalty",
    "lam",
    "beta",
    "a",
    "split_layers",
    "seeds",
    "test_acc_mean",
    "test_acc_std",
    "sparsity_fc_mean",
    "sparsity_fc_std",
    "fit_s_mean",
)


def _natural(path: Path) -> list:
    """Sort key that puts job 2 before job 10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def collect(root: Path) -> tuple[list[dict], list[dict]]:
    """Finished runs (status ok) and the others, for each run folder (one holding ``.hydra/``)."""
    done, other = [], []
    for hydra_dir in sorted(root.rglob(".hydra"), key=_natural):
        run = hydra_dir.parent
        name = str(run.relative_to(root)) or "."
        path = run / "metrics.json"
        if not path.is_file():
            other.append({"run": name, "dir": run, "status": "no metrics.json (killed or running)"})
            continue
        metrics = {"run": name, "dir": run, **json.loads(path.read_text())}
        (done if metrics.get("status", "ok") == "ok" else other).append(metrics)
    return done, other


def _key(row: dict) -> tuple:
    return tuple(_freeze(row.get(k)) for k in SETTING)


def _freeze(value):
    return tuple(value) if isinstance(value, list) else value


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def aggregate(rows: list[dict]) -> list[dict]:
    """One row per setting: seeds, and mean +- sample std of test accuracy, FC sparsity, time."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(_key(row), []).append(row)
    out = []
    for key, runs in sorted(groups.items(), key=lambda kv: [str(v) for v in kv[0]]):
        acc = _mean_std([r["test/acc"] for r in runs])
        sparsity = _mean_std([r["test/sparsity_fc"] for r in runs])
        out.append(
            {
                **{
                    k: list(v) if isinstance(v, tuple) else v
                    for k, v in zip(SETTING, key, strict=True)
                },
                "seeds": sorted(r["seed"] for r in runs),
                "test_acc_mean": acc[0],
                "test_acc_std": acc[1],
                "sparsity_fc_mean": sparsity[0],
                "sparsity_fc_std": sparsity[1],
                "fit_s_mean": statistics.fmean(r["time/fit_s"] for r in runs),
            }
        )
    return out


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != 0 and abs(value) < 0.01:
            return f"{value:.2g}"
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.0f}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _pm(mean: float, std: float | None) -> str:
    return _fmt(mean) if std is None else f"{mean:.4f} ± {std:.4f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def markdown(settings: list[dict], runs: list[dict], other: list[dict]) -> str:
    head = ["data", "penalty", "lam", "beta", "a", "layers", "seeds", "test acc", "FC sparsity"]
    body = [
        [_fmt(s[k]) for k in SETTING]
        + [_fmt(s["seeds"])]
        + [_pm(s["test_acc_mean"], s["test_acc_std"])]
        + [_pm(s["sparsity_fc_mean"], s["sparsity_fc_std"]), _fmt(s["fit_s_mean"])]
        for s in settings
    ]
    text = "## Settings (mean ± std over seeds)\n\n" + _table([*head, "fit s"], body)
    text += "\n## Runs\n\n" + _table(
        [title for title, _ in RUN_COLUMNS],
        [[_fmt(r.get(key)) for _, key in RUN_COLUMNS] for r in runs],
    )
    if other:
        text += "\n## Runs that did not finish\n\n" + _table(
            ["run", "status", "error"],
            [[r["run"], r["status"], str(r.get("error", "-")).replace("|", "/")] for r in other],
        )
    return text


def as_csv(settings: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(SETTING_COLUMNS)
    for s in settings:
        writer.writerow(
            [" ".join(map(str, s[k])) if isinstance(s[k], list) else s[k] for k in SETTING_COLUMNS]
        )
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rvsm.report", description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument(
        "--out", type=Path, help="stem of the files written (default: <folder>/report)"
    )
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"rvsm: error: {args.folder} is not a folder", file=sys.stderr)
        return 2
    runs, other = collect(args.folder)
    settings = aggregate(runs)
    text = markdown(settings, runs, other)
    print(text, end="")
    stem = args.out or args.folder / "report"
    with atomic_open(stem.with_name(stem.name + ".md"), "w") as f:
        f.write(text)
    with atomic_open(stem.with_name(stem.name + ".csv"), "w") as f:
        f.write(as_csv(settings))
    from rvsm.plots import write_plots  # matplotlib only when plotting

    for path in write_plots(settings, runs, stem):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
