"""Collect the ``metrics.json`` of every run under a folder into tables and plots.

``python -m rvsm.report <folder> [--out <stem>]`` prints the Markdown report and writes
``<stem>.md``, ``<stem>.csv`` (one row per setting: mean +- std over seeds) and the PNG plots of
``rvsm.plots``; ``<stem>`` defaults to ``<folder>/report``. Runs that did not finish (diverged,
crashed, stopped, or killed before writing ``metrics.json``) are listed with their status, never
dropped silently.

A setting is everything that identifies a run except its seed: the data (kind, and the tremor
severity read from the run's ``.hydra/config.yaml``), the method and every knob it wrote to
``metrics.json`` (RVSM's penalty, lam, a, beta and splitting schedules; gmp's target sparsity and
window; hard-concrete's lam and gates), the split layers and the epochs. Runs of different
methods or schedules never merge. Settings are ranked, and Pareto fronts of accuracy vs FC
sparsity chosen, on the **validation** numbers; test numbers are shown beside them and are never
used to choose, so that they stay an unbiased estimate of the chosen settings.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import statistics
import sys
from pathlib import Path

import yaml

from rvsm.io import atomic_open

# keys of metrics.json (and of a run's row) that are not part of its setting
NOT_SETTING = {"run", "dir", "status", "error", "objective", "seed"}
# runs with the same data setting share a section of the report and a panel of the Pareto plot
DATA_KEYS = ("data", "severity")
# display order of the keys of a setting; others (a new method's knobs) follow alphabetically
ORDER = (
    "data",
    "severity",
    "method",
    "penalty",
    "lam",
    "a",
    "beta",
    "beta_growth",
    "beta_max",
    "keep_threshold",
    "sync_every_epoch",
    "finetune_epochs",
    "sparsity_target",
    "prune_start",
    "prune_end",
    "prune_every_steps",
    "init_log_alpha",
    "gate_lr",
    "split_layers",
    "epochs",
)
# the knob a method is swept over: always named in a setting's label
MAIN_KNOBS = {
    "rvsm": ("penalty", "lam", "a"),
    "gmp": ("sparsity_target",),
    "hardconcrete": ("lam",),
}
# (column stem, metrics.json key): aggregated as <stem>_mean and <stem>_std over seeds
MEASURES = (
    ("val_acc", "val/acc"),
    ("val_sparsity_fc", "val/sparsity_fc"),
    ("test_acc", "test/acc"),
    ("test_acc_dense", "test/acc_dense"),
    ("test_sparsity_fc", "test/sparsity_fc"),
    ("fit_s", "time/fit_s"),
)


def _natural(path: Path) -> list:
    """Sort key that puts job 2 before job 10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def _severity(run: Path) -> float | None:
    """data.synth.tremor.severity of the run, from the config Hydra saved (None if unreadable)."""
    try:
        cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
        value = cfg["data"]["synth"]["tremor"]["severity"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    return float(value) if isinstance(value, int | float) else value


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
        metrics.setdefault("method", "rvsm")  # runs from before the method group were RVSM
        metrics["severity"] = _severity(run)
        (done if metrics.get("status", "ok") == "ok" else other).append(metrics)
    return done, other


def _freeze(value):
    return tuple(value) if isinstance(value, list) else value


def _order(key: str) -> tuple:
    return (ORDER.index(key), "") if key in ORDER else (len(ORDER), key)


def setting_of(row: dict) -> dict:
    """The keys that identify a run's setting (all but its results, seed and bookkeeping)."""
    keys = sorted((k for k in row if "/" not in k and k not in NOT_SETTING), key=_order)
    return {k: row[k] for k in keys}


def _key(row: dict) -> tuple:
    return tuple((k, _freeze(v)) for k, v in setting_of(row).items())


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def family(setting: dict) -> str:
    """What gets one colour and one Pareto front: the method, and RVSM's penalty."""
    if setting.get("method") == "rvsm" and setting.get("penalty"):
        return f"rvsm-{setting['penalty']}"
    return str(setting.get("method"))


def data_label(setting: dict) -> str:
    severity = setting.get("severity")
    return f"{setting.get('data')}" + ("" if severity is None else f", severity {_knob(severity)}")


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(sparsity, accuracy) points that no other point beats on both, by sparsity."""
    front = [p for p in points if not any(q[0] >= p[0] and q[1] >= p[1] and q != p for q in points)]
    return sorted(set(front))


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
        groups.setdefault(_key(row), []).append(row)
    settings = []
    for runs in groups.values():
        out = {
            **setting_of(runs[0]),
            "key": _key(runs[0]),
            "seeds": sorted(r["seed"] for r in runs),
        }
        for stem, metric in MEASURES:
            out[f"{stem}_mean"], out[f"{stem}_std"] = _mean_std([r.get(metric) for r in runs])
        settings.append(out)
    _label(settings)
    by_data: dict[tuple, list[dict]] = {}
    for s in settings:
        by_data.setdefault(tuple(_freeze(s.get(k)) for k in DATA_KEYS), []).append(s)
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


def _label(settings: list[dict]) -> None:
    """Name each setting by its method, its main knob and the knobs that vary within its
    method; record the knobs that do not (``fixed``), so the tables stay narrow."""
    by_method: dict[str, list[dict]] = {}
    for s in settings:
        by_method.setdefault(str(s.get("method")), []).append(s)
    for method, group in by_method.items():
        knobs = sorted({k for s in group for k, _ in s["key"]} - {*DATA_KEYS, "method"}, key=_order)
        varying = {k for k in knobs if len({repr(s.get(k)) for s in group}) > 1}
        shown = [k for k in knobs if k in varying or k in MAIN_KNOBS.get(method, ())]
        fixed = {k: group[0].get(k) for k in knobs if k not in shown}
        for s in group:
            parts = [method]
            for k in shown:
                value = s.get(k)
                if value is None:
                    continue
                parts.append(_knob(value) if k == "penalty" else f"{k}={_knob(value)}")
            s["label"] = " ".join(parts)
            s["fixed"] = fixed


def _knob(value) -> str:
    """A setting's value as written in its label: 1e-05, 0.9, 1.5, fc,conv3."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != 0 and abs(value) < 0.01:
            return f"{value:.2g}"
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.0f}"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "-"
    return _fmt(mean) if std is None else f"{mean:.4f} ± {std:.4f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


SETTING_HEAD = [
    "rank",
    "setting",
    "seeds",
    "val acc",
    "val FC sparsity",
    "val front",
    "test acc",
    "test acc dense",
    "test FC sparsity",
    "fit s",
]
RUN_HEAD = [
    "run",
    "data",
    "setting",
    "seed",
    "val acc",
    "val FC sparsity",
    "test acc",
    "test acc dense",
    "test FC sparsity",
    "fit s",
    "FC zeros",
]


def _fixed_line(settings: list[dict]) -> str:
    fixed: dict[str, dict] = {}
    for s in settings:
        fixed.setdefault(str(s.get("method")), s["fixed"])
    parts = [
        f"{m}: " + ", ".join(f"{k}={_knob(v)}" for k, v in f.items())
        for m, f in sorted(fixed.items())
        if f
    ]
    return ("Same in every setting of a method: " + "; ".join(parts) + ".\n") if parts else ""


def _picture_link(run: dict, report_dir: Path) -> str:
    """A link to the run's zero-pattern picture, relative to the report's folder."""
    picture = Path(run["dir"]) / "zero_pattern_fc.png"
    if not picture.is_file():
        return "-"
    return f"[png]({os.path.relpath(picture.resolve(), report_dir.resolve())})"


def markdown(
    settings: list[dict], runs: list[dict], other: list[dict], report_dir: Path = Path(".")
) -> str:
    """Per data setting, the settings ranked on validation with test beside; then every run."""
    text = ""
    by_data: dict[str, list[dict]] = {}
    for s in settings:
        by_data.setdefault(data_label(s), []).append(s)
    for data, group in by_data.items():
        text += f"## Settings on {data} data (mean ± std over seeds)\n\n"
        text += (
            "Ranked by validation accuracy of the sparse network. val front: on the Pareto "
            "front of validation accuracy vs validation FC sparsity of all settings here (all) "
            "or of its method's settings (method). Test numbers are shown, never used to "
            "choose.\n\n"
        )
        body = [
            [
                _fmt(s["rank"]),
                s["label"],
                _fmt(s["seeds"]),
                _pm(s["val_acc_mean"], s["val_acc_std"]),
                _pm(s["val_sparsity_fc_mean"], s["val_sparsity_fc_std"]),
                s["front"],
                _pm(s["test_acc_mean"], s["test_acc_std"]),
                _pm(s["test_acc_dense_mean"], s["test_acc_dense_std"]),
                _pm(s["test_sparsity_fc_mean"], s["test_sparsity_fc_std"]),
                _seconds(s["fit_s_mean"]),
            ]
            for s in group
        ]
        text += _table(SETTING_HEAD, body) + "\n" + _fixed_line(group) + "\n"
    labels = {s["key"]: s["label"] for s in settings}
    text += "## Runs (one per seed; sparse and dense accuracy side by side)\n\n" + _table(
        RUN_HEAD,
        [
            [
                r["run"],
                data_label(r),
                labels.get(_key(r), "-"),
                _fmt(r.get("seed")),
                _fmt(r.get("val/acc")),
                _fmt(r.get("val/sparsity_fc")),
                _fmt(r.get("test/acc")),
                _fmt(r.get("test/acc_dense")),
                _fmt(r.get("test/sparsity_fc")),
                _seconds(r.get("time/fit_s")),
                _picture_link(r, report_dir),
            ]
            for r in runs
        ],
    )
    if other:
        text += "\n## Runs that did not finish\n\n" + _table(
            ["run", "status", "error"],
            [[r["run"], r["status"], str(r.get("error", "-")).replace("|", "/")] for r in other],
        )
    return text


def as_csv(settings: list[dict]) -> str:
    """One row per setting: its label, every knob, rank and front (validation), measures."""
    knobs = sorted({k for s in settings for k, _ in s["key"]} - {*DATA_KEYS, "method"}, key=_order)
    columns = [*DATA_KEYS, "method", "setting", *knobs, "seeds", "rank", "val_front"]
    columns += [f"{stem}_{agg}" for stem, _ in MEASURES for agg in ("mean", "std")]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    for s in settings:
        row = {**s, "setting": s["label"], "val_front": s["front"]}
        writer.writerow(
            [
                " ".join(map(str, row.get(k)))
                if isinstance(row.get(k), list | tuple)
                else row.get(k)
                for k in columns
            ]
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
    stem = args.out or args.folder / "report"
    text = markdown(settings, runs, other, stem.parent)
    print(text, end="")
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
