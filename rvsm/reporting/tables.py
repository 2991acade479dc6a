"""The report as Markdown (per data setting, settings ranked on validation; every run) and CSV."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from rvsm.reporting.settings import (
    DATA_KEYS,
    data_label,
    knob_order,
    knob_text,
    main_knobs,
    setting_key,
)
from rvsm.reporting.stats import MEASURES


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


def pm(mean: float | None, std: float | None = None, *, digits: int = 4, sign: str = "±") -> str:
    """``mean ± std`` with ``digits`` decimals (``stats.mean_std`` gives both from the values
    of the seeds); the mean alone without a std (one seed), ``-`` without a mean."""
    if mean is None:
        return "-"
    if std is None:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} {sign} {std:.{digits}f}"


def _pm(mean: float | None, std: float | None) -> str:
    """A setting's cell: ``pm``, one seed's value written as every run's is."""
    return _fmt(mean) if std is None else pm(mean, std)


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
    "test FLOPs",
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
    "test FLOPs",
    "channels",
]


def _fixed_line(settings: list[dict]) -> str:
    fixed: dict[str, dict] = {}
    for s in settings:
        fixed.setdefault(str(s.get("method")), s["fixed"])
    parts = [
        f"{m}: " + ", ".join(f"{k}={knob_text(v)}" for k, v in f.items())
        for m, f in sorted(fixed.items())
        if f
    ]
    return ("Same in every setting of a method: " + "; ".join(parts) + ".\n") if parts else ""


def _channels(run: dict) -> str:
    """The kept channels of each conv layer, e.g. ``5/9/12`` (``-`` for a run without them)."""
    widths = [run[k] for k in sorted(run) if k.startswith("test/channels_")]
    return "/".join(f"{w:.0f}" for w in widths) if widths else "-"


def _picture_link(run: dict, report_dir: Path, folder: Path) -> str:
    """A link to the run's zero-pattern picture, relative to the report's folder, where the
    link travels with the report: the picture inside the report's folder, or the report inside
    the folder of runs it reads (``-`` otherwise, e.g. a report recorded into experiments/ from
    runs under logs/, and for a run without a picture)."""
    picture = (Path(run["dir"]) / "zero_pattern_fc.png").resolve()
    report_dir, folder = report_dir.resolve(), folder.resolve()
    if not picture.is_file():
        return "-"
    if not (picture.is_relative_to(report_dir) or report_dir.is_relative_to(folder)):
        return "-"
    return f"[png]({os.path.relpath(picture, report_dir)})"


def markdown(
    settings: list[dict],
    runs: list[dict],
    other: list[dict],
    report_dir: Path = Path("."),
    folder: Path | None = None,
) -> str:
    """Per data setting, the settings ranked on validation with test beside; then every run.
    ``folder``: the folder of runs read (default: ``report_dir``), which decides which pictures
    a link can reach (``_picture_link``)."""
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
            "choose. test FLOPs: of the network rebuilt at the channels it uses, as a fraction "
            "of dense.\n\n"
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
                _pm(s["test_flops_mean"], s["test_flops_std"]),
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
                labels.get(setting_key(r), "-"),
                _fmt(r.get("seed")),
                _fmt(r.get("val/acc")),
                _fmt(r.get("val/sparsity_fc")),
                _fmt(r.get("test/acc")),
                _fmt(r.get("test/acc_dense")),
                _fmt(r.get("test/sparsity_fc")),
                _seconds(r.get("time/fit_s")),
                _picture_link(r, report_dir, report_dir if folder is None else folder),
                _fmt(r.get("test/flops_fraction")),
                _channels(r),
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
    every = [k for s in settings for k, _ in s["key"] if k not in (*DATA_KEYS, "method")]
    main = tuple(dict.fromkeys(k for s in settings for k in main_knobs(s)))
    knobs = knob_order(every, main)
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
