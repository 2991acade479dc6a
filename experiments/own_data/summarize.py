"""The own-data record's tables, from its run folders (experiments/own_data/README.md says how they
were made): one row per run, each setting's mean +- sample std over seeds, and the exported
networks' latency timed side by side.

    .venv/bin/python experiments/own_data/summarize.py

Settings (each a folder of runs under ``runs/``, one job folder per seed, made by record.sh):
``mixed`` (the default network and data), ``folder`` (the same data written out as PNG files and
read back through ``data=folder``) and ``resnet`` (``model/net=resnet`` on the default data), all
under the default RVSM. A setting with no
runs yet is left out. Latency: every run's ``model.pt`` (``python -m rvsm.export``, beside its
``metrics.json``) on random images at batch 256, interleaved in every repeat, the median of the
repeats. Writes ``results.md`` beside this file.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from rvsm.reporting.stats import mean_std
from rvsm.reporting.tables import pm
from rvsm.reporting.timing import duration_text, interleaved
from rvsm.utils.cpu import cpu_name
from rvsm.utils.io import write_lines

HERE = Path(__file__).parent
SETTINGS = {
    "mixed": "the paper's network, synthesized data (data=mixed)",
    "folder": "the paper's network, the same data as PNG files (data=folder)",
    "resnet": "the residual network (model/net=resnet), synthesized data",
}
COLUMNS = ("test/acc", "test/sparsity_fc", "test/sparsity", "test/flops")
BATCH, REPEATS = 256, 11


def runs(setting: str) -> list[dict]:
    """metrics.json of each job folder of a setting, by seed."""
    folders = sorted((HERE / "runs" / setting).glob("*/metrics.json"))
    found = [{**json.loads(p.read_text()), "dir": p.parent} for p in folders]
    return sorted(found, key=lambda m: m["seed"])


def latency(models: dict[str, Path]) -> dict[str, float]:
    """Median seconds of a batch of ``BATCH`` random images through each exported file."""
    nets = {name: torch.jit.load(str(path)).eval() for name, path in models.items()}
    x = torch.rand(BATCH, 1, 64, 128)  # every model here reads the default data's images
    with torch.no_grad():
        return interleaved({name: (lambda n=net: n(x)) for name, net in nets.items()}, REPEATS)


def main() -> None:
    rows, means, models = [], [], {}
    for setting, label in SETTINGS.items():
        found = runs(setting)
        if not found:
            continue
        for m in found:
            cells = [f"{m[k]:.4f}" if k != "test/flops" else f"{m.get(k, 0):,.0f}" for k in COLUMNS]
            rows.append(f"| {setting} | {m['seed']} | {m['status']} | " + " | ".join(cells) + " |")
            if (m["dir"] / "model.pt").is_file():
                models[f"{setting}/{m['seed']}"] = m["dir"] / "model.pt"
        stats = [pm(*mean_std([m.get(k) for m in found])) for k in COLUMNS[:3]]
        flops, _ = mean_std([m.get("test/flops") for m in found])
        means.append(
            f"| {label} | {', '.join(str(m['seed']) for m in found)} | "
            + " | ".join(stats)
            + f" | {flops:,.0f} |"
        )
    timed = latency(models) if models else {}
    cpu = cpu_name()
    lines = [
        "# Your own data and network: the record's numbers",
        "",
        f"Written by `experiments/own_data/summarize.py` on {time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} cores ({cpu}), torch {torch.__version__}.",
        "",
        "| setting | seeds | test acc | test FC zeros | split layers zeros | mean FLOPs an image |",
        "|---|---|---|---|---|---|",
        *means,
        "",
        "| setting | seed | status | test acc | FC zeros | split zeros | FLOPs |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]
    if timed:
        lines += [
            "",
            f"Exported latency at batch {BATCH} (median of {REPEATS} interleaved repeats):",
            "",
            "| model | time a batch |",
            "|---|---|",
            *(f"| {name} | {duration_text(s)} |" for name, s in timed.items()),
        ]
    write_lines(HERE / "results.md", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
