"""README.md's headline table, from the recorded reports (``results.csv`` for mean ± std over
seeds, the per-seed rows of ``results.md`` beside it for the worst seed):

    .venv/bin/python experiments/headline.py

rewrites the block between ``<!-- headline: begin -->`` and ``<!-- headline: end -->``;
tests/test_docs.py fails when the block differs from what this script writes now.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from rvsm.reporting.stats import mean_std
from rvsm.reporting.tables import pm
from rvsm.runtime.checks import composed

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEGIN, END = "<!-- headline: begin -->", "<!-- headline: end -->"
CONSTRAINT = (
    "rvsm l0_constraint target_sparsity=0.97 beta=0.1 beta_growth=2 beta_max=6.4 finetune_epochs=1"
    " coupling=gradient reset_optimizer_on_sync=False target_start=0.1 target_end=0.6"
    " optimizer=Adam lr_schedule=CosineAnnealingLR epochs=7"
)
# the recorded budget on a command line (make train's default trains fewer epochs at a larger
# batch, in bf16 where that was measured faster: experiments/speed); the presets pin it themselves
RECORDED = "trainer.max_epochs=7 data.batch_size=64 trainer.precision=32-true"
# (run, command after `.venv/bin/python -m rvsm.train`, recording folder, setting on the
# default data: mixed, tremor severity 1)
ROWS = [
    (
        "**default, l0** (lam 1.5e-5), 7 epochs",
        f"`{RECORDED}`",
        "sweep",
        "rvsm l0 lam=1.5e-05 finetune_epochs=1 epochs=7",
    ),
    (
        "**extreme, l0** (l0 constraint, beta growth)",
        "`experiment=extreme_l0`",
        "compare/variants",
        CONSTRAINT,
    ),
    (
        "extreme, Tl1 (a = 0.01, lam 3.6e-5)",
        "`experiment=extreme_tl1`",
        "sweep",
        "rvsm tl1 lam=3.6e-05 a=0.01 finetune_epochs=1 epochs=7",
    ),
    (
        "Tl1 (a = 0.01, lam 1.8e-5)",
        f"`penalty=tl1 {RECORDED}`",
        "sweep",
        "rvsm tl1 lam=1.8e-05 a=0.01 finetune_epochs=1 epochs=7",
    ),
    (
        "dense (RVSM, no penalty)",
        f"`penalty=none {RECORDED}`",
        "sweep",
        "rvsm none lam=0 finetune_epochs=1 epochs=7",
    ),
    (
        "gmp, 0.97 (baseline)",
        f"`method=gmp method.sparsity=0.97 {RECORDED}`",
        "compare/variants",
        "gmp sparsity_target=0.97 epochs=7",
    ),
    (
        "ADMM, 0.97 (baseline)",
        f"`method=admm method.sparsity=0.97 {RECORDED}`",
        "compare/variants",
        "admm sparsity_target=0.97 epochs=7",
    ),
    (
        "hard-concrete, lam 1e-3 (baseline)",
        f"`method=hardconcrete method.lam=1e-3 {RECORDED}`",
        "compare/variants",
        "hardconcrete lam=0.001 epochs=7",
    ),
]


def settings(folder: str) -> dict[str, dict]:
    """The recorded settings on the default data, by their label."""
    with open(ROOT / "experiments" / folder / "results.csv", newline="") as f:
        return {r["setting"]: r for r in csv.DictReader(f) if float(r["severity"]) == 1.0}


def worst(folder: str, setting: str) -> tuple[float, float]:
    """The lowest test accuracy and FC sparsity of the setting's seeds (results.md's runs)."""
    text = (ROOT / "experiments" / folder / "results.md").read_text().split("## Runs", 1)[1]
    lines = [line.strip().strip("|") for line in text.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].split("|")]
    rows = [dict(zip(header, map(str.strip, line.split("|")), strict=True)) for line in lines[2:]]
    rows = [r for r in rows if r["setting"] == setting and r["data"] == "mixed, severity 1"]
    return min(float(r["test acc"]) for r in rows), min(float(r["test FC sparsity"]) for r in rows)


def seed_list(seeds: list[int]) -> str:
    """Seeds as the table shows them: a range where they run without a gap, else listed."""
    if seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


# make train's precision on each kind of CPU (rvsm.utils.cpu), a row each
MAKE_TRAIN_PRECISIONS = (
    ("32-true", "float32 (the default on other CPUs)"),
    ("bf16-mixed", "bf16-mixed (the default on an AMD EPYC with AVX-512 BF16)"),
)


def make_train_rows() -> list[str]:
    """make train's own setting (epochs, batch, lr as the config composes them; chosen on
    validation in experiments/speed) at each precision it takes on some CPU, from the runs of
    that record (runs.csv): its data seed follows the run's seed."""
    with open(ROOT / "experiments" / "speed" / "runs.csv", newline="") as f:
        recorded = list(csv.DictReader(f))
    rows = []
    for precision, label in MAKE_TRAIN_PRECISIONS:
        cfg = composed([f"trainer.precision={precision}"])
        setting = (cfg.trainer.max_epochs, cfg.data.batch_size, cfg.model.optimizer.lr)
        runs = [
            r
            for r in recorded
            if (int(r["epochs"]), int(r["batch_size"])) == setting[:2]
            and math.isclose(float(r["lr"]), setting[2], rel_tol=1e-9)
            and r["precision"] == precision
        ]
        if not runs:
            raise SystemExit(
                f"experiments/speed/runs.csv has no run of make train's setting {setting}, "
                f"{precision}"
            )
        acc = [float(r["test/acc"]) for r in runs]
        fc = [float(r["test/sparsity_fc"]) for r in runs]
        cells = [
            f"**make train**: l0, {setting[0]} epochs, batch {setting[1]}, {label}",
            "`make train`",
            seed_list(sorted(int(r["seed"]) for r in runs)),
            f"{pm(*mean_std(acc))} [{min(acc):.4f}]",
            zeros(*mean_std(fc), min(fc)),
            "[experiments/speed](experiments/speed/README.md)",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def zeros(mean: float, std: float, fewest: float) -> str:
    if std == 0:
        return f"{100 * mean:.1f}%"
    return f"{pm(100 * mean, 100 * std, digits=1)}% [{100 * fewest:.1f}%]"


def table() -> str:
    lines = [
        "| run | command | seeds | test acc [worst seed] | FC zeros [fewest] | recorded in |",
        "| --- | --- | --- | --- | --- | --- |",
        "| paper, l0 (abstract) | - | - | > 0.99 | > 86% | Xue & Xin 2019 |",
        *make_train_rows(),
    ]
    for run, command, folder, setting in ROWS:
        r = settings(folder)[setting]
        seeds = sorted(int(seed) for seed in r["seeds"].split())
        acc, fewest = worst(folder, setting)
        top = folder.split("/")[0]
        cells = [
            run,
            command,
            seed_list(seeds),
            f"{pm(float(r['test_acc_mean']), float(r['test_acc_std']))} [{acc:.4f}]",
            zeros(float(r["test_sparsity_fc_mean"]), float(r["test_sparsity_fc_std"]), fewest),
            f"[experiments/{top}](experiments/{top}/README.md)",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def block(readme: str) -> str:
    """``readme`` with the headline block rewritten from the recordings."""
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}{END}{tail}"


def main() -> None:
    text = block(README.read_text())
    tmp = README.with_name(README.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, README)


if __name__ == "__main__":
    main()
