"""Tables of the unseen-font runs of run_fonts.sh, from their eval.json files:
``python experiments/generalization/summarize_fonts.py <logs folder> <out folder>`` writes
``<out>/fonts.md``. Evaluations are named ``<setting>-<seed>-on-<font set>``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rvsm.reporting.stats import mean_std
from rvsm.reporting.tables import pm


def _runs(logs: Path) -> dict[tuple[str, str], list[dict]]:
    """(training setting, tested font set) -> the eval.json of each seed."""
    runs: dict[tuple[str, str], list[dict]] = {}
    for path in sorted(logs.glob("eval/*-on-*/eval.json")):
        setting_seed, tested = path.parent.name.split("-on-")
        runs.setdefault((setting_seed.rsplit("-", 1)[0], tested), []).append(
            json.loads(path.read_text())
        )
    return runs


def _per_font(evals: list[dict]) -> dict[str, list[float]]:
    fonts: dict[str, list[float]] = {}
    for e in evals:
        for row in e["per_font"]:
            fonts.setdefault(Path(row["font"]).stem, []).append(float(row["acc"]))
    return fonts


def tables(runs: dict[tuple[str, str], list[dict]]) -> list[str]:
    lines = [
        "## All fonts together",
        "",
        "| trained | tested on | seeds | test acc (sparse) | test acc (dense twin) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for (setting, tested), evals in sorted(runs.items()):
        seeds = ",".join(str(e["trained"]["seed"]) for e in evals)
        lines.append(
            f"| {setting} | {tested} ({len(evals[0]['fonts'])} fonts) | {seeds} | "
            f"{pm(*mean_std([e['test/acc'] for e in evals]))} | "
            f"{pm(*mean_std([e['test/acc_dense'] for e in evals]))} |"
        )
    lines += ["", "## Per font (sparse test accuracy, each font alone)", ""]
    settings = sorted({s for s, _ in runs})
    lines += [
        f"| font set | font | {' | '.join(settings)} |",
        "| --- | --- |" + " --- |" * len(settings),
    ]
    for tested in sorted({t for _, t in runs}):
        columns = {s: _per_font(runs.get((s, tested), [])) for s in settings}
        for font in sorted({f for c in columns.values() for f in c}):
            cells = [
                pm(*mean_std(columns[s][font])) if font in columns[s] else "-" for s in settings
            ]
            lines.append(f"| {tested} | {font} | {' | '.join(cells)} |")
    return lines


def main() -> None:
    logs, out = Path(sys.argv[1]), Path(sys.argv[2])
    text = ["# Unseen handwriting fonts (run_fonts.sh)", "", *tables(_runs(logs)), ""]
    (out / "fonts.md").write_text("\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    main()
