"""Tables and plot of experiments/generalization from the eval.json and severity.csv files of
run.sh: ``python experiments/generalization/summarize.py <logs folder> <out folder>``."""

from __future__ import annotations

import csv
import json
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rvsm.reporting.stats import mean_std  # noqa: E402
from rvsm.reporting.tables import pm  # noqa: E402
from rvsm.severity import LEVEL, crossing  # noqa: E402


def cross_kind(logs: Path) -> list[str]:
    runs = [json.loads(p.read_text()) for p in sorted(logs.glob("eval/*/eval.json"))]
    cells: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        key = (r["trained"]["data"]["synth"]["kind"], r["data"]["synth"]["kind"])
        cells.setdefault(key, []).append(r)
    lines = [
        "| trained on | tested on | seeds | test acc (sparse) | test acc (dense twin) | FC zeros |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for (trained, tested), rs in sorted(cells.items()):
        seeds = ",".join(str(r["trained"]["seed"]) for r in rs)
        lines.append(
            f"| {trained} | {tested} | {seeds} | {pm(*mean_std([r['test/acc'] for r in rs]))} | "
            f"{pm(*mean_std([r['test/acc_dense'] for r in rs]))} | "
            f"{pm(*mean_std([r['test/sparsity_fc'] for r in rs]))} |"
        )
    lines += ["", "Per seed:", "", "| trained on | seed | tested on | sparse | dense |"]
    lines.append("| --- | --- | --- | --- | --- |")
    for r in sorted(
        runs, key=lambda r: (r["trained"]["data"]["synth"]["kind"], r["trained"]["seed"])
    ):
        lines.append(
            f"| {r['trained']['data']['synth']['kind']} | {r['trained']['seed']} | "
            f"{r['data']['synth']['kind']} | {r['test/acc']:.4f} | {r['test/acc_dense']:.4f} |"
        )
    return lines


def severity(logs: Path, out: Path) -> list[str]:
    curves = {}
    for path in sorted(logs.glob("severity/*/severity.csv")):
        with open(path, newline="") as f:
            curves[path.parent.name] = [
                {k: float(v) for k, v in row.items()} for row in csv.DictReader(f)
            ]
    if not curves:
        return ["(no severity curves)"]
    levels = [row["severity"] for row in next(iter(curves.values()))]
    lines = ["| severity | sparse acc | dense acc |", "| --- | --- | --- |"]
    mean = {"acc": [], "acc_dense": []}
    for i, level in enumerate(levels):
        for key in mean:
            mean[key].append(statistics.mean(c[i][key] for c in curves.values()))
        sparse = pm(*mean_std([c[i]["acc"] for c in curves.values()]))
        dense = pm(*mean_std([c[i]["acc_dense"] for c in curves.values()]))
        lines.append(f"| {level:g} | {sparse} | {dense} |")
    at = {name: crossing(levels, [row["acc"] for row in c]) for name, c in curves.items()}
    lines += [
        "",
        f"Severity at which the sparse accuracy reaches {LEVEL} (linear between the points), "
        "per run: "
        + ", ".join(f"{n}: {'never' if a is None else f'{a:.3g}'}" for n, a in at.items()),
    ]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for c in curves.values():
        ax.plot(levels, [row["acc"] for row in c], color="C0", alpha=0.3, lw=0.8)
    ax.plot(levels, mean["acc"], "o-", color="C0", label="sparse (evaluated), mean of seeds")
    ax.plot(levels, mean["acc_dense"], "s--", color="C1", label="dense twin, mean of seeds")
    ax.axhline(LEVEL, color="grey", lw=0.8, ls=":")
    ax.axhline(0.5, color="grey", lw=0.8)
    ax.set(xlabel="tremor severity (1 = training default)", ylabel="test accuracy")
    ax.set_title("default model (mixed data) vs tremor severity")
    ax.legend(loc="lower right")
    fig.savefig(out / "severity.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return lines


def main() -> None:
    logs, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    text = ["## Cross-kind accuracy", "", *cross_kind(logs), "", "## Severity curve", ""]
    text += [*severity(logs, out), "", "![](severity.png)", ""]
    (out / "results.md").write_text("\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    main()
