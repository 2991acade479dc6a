"""The report on hand-made run folders: mean +- std over seeds, Pareto fronts, unfinished runs."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from rvsm.plots import pareto_front
from rvsm.report import main


def make_run(root: Path, name: str, metrics: dict | None) -> None:
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    if metrics is not None:
        (run / "metrics.json").write_text(json.dumps(metrics))


def ok(penalty: str, lam: float, seed: int, acc: float, sparsity: float, a=None) -> dict:
    return {
        "status": "ok",
        "data": "mixed",
        "penalty": penalty,
        "lam": lam,
        "beta": 0.1,
        "a": a,
        "split_layers": ["fc"],
        "seed": seed,
        "test/acc": acc,
        "test/acc_dense": acc,
        "test/sparsity_fc": sparsity,
        "time/fit_s": 10.0 * seed,
    }


def test_settings_table_aggregates_seeds_and_lists_unfinished_runs(tmp_path):
    accs, sparsities = [0.991, 0.995, 0.993], [0.88, 0.87, 0.89]
    for seed, (acc, sp) in enumerate(zip(accs, sparsities, strict=True), start=1):
        make_run(tmp_path, f"l0/{seed}", ok("l0", 1e-5, seed, acc, sp))
    make_run(tmp_path, "tl1/0", ok("tl1", 1.8e-5, 1, 0.99, 0.92, a=0.01))
    diverged = {**ok("l1", 1.0, 1, 0, 0), "status": "diverged", "error": "train/loss is nan"}
    for key in ("test/acc", "test/acc_dense", "test/sparsity_fc", "time/fit_s"):
        del diverged[key]
    make_run(tmp_path, "l1/0", diverged)
    make_run(tmp_path, "l1/1", None)  # killed before writing metrics.json

    assert main([str(tmp_path)]) == 0
    with open(tmp_path / "report.csv", newline="") as f:
        rows = {r["penalty"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"l0", "tl1"}  # unfinished runs are not averaged in
    l0 = rows["l0"]
    assert l0["seeds"] == "1 2 3"
    mean = sum(accs) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in accs) / 2)  # sample std, n - 1
    assert float(l0["test_acc_mean"]) == mean and math.isclose(float(l0["test_acc_std"]), std)
    assert math.isclose(float(l0["sparsity_fc_mean"]), 0.88) and float(l0["fit_s_mean"]) == 20.0
    assert rows["tl1"]["test_acc_std"] == ""  # one seed: no spread to report
    text = (tmp_path / "report.md").read_text()
    assert "| l1/0 | diverged | train/loss is nan |" in text
    assert "| l1/1 | no metrics.json (killed or running) | - |" in text
    assert f"{mean:.4f} ± {std:.4f}" in text


def test_pareto_front_matches_a_sweep_over_sorted_points():
    """Independent algorithm: walk from the sparsest point down, keep each new best accuracy."""
    points = [(x / 7, ((x * 5) % 7) / 7) for x in range(7)] + [(0.5, 0.5), (0.9, 0.1), (0.9, 0.3)]
    expected, best = set(), -1.0
    for sparsity, acc in sorted(points, key=lambda p: (-p[0], -p[1])):
        if acc > best:
            expected.add((sparsity, acc))
            best = acc
    assert set(pareto_front(points)) == expected and len(expected) >= 3
