"""The report on hand-made run folders: settings keyed by method and knobs, ranked and fronts
chosen on validation with test numbers beside, mean +- std over seeds, unfinished runs."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

from rvsm.report import main, pareto_front
from rvsm.reporting.stats import hypervolume, on_front
from rvsm.reporting.tables import pm


def make_run(root: Path, name: str, metrics: dict | None, severity: float = 1.0) -> None:
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(
        f"seed: 1\ndata:\n  seed: 12345\n  synth:\n    tremor:\n      severity: {severity}\n"
    )
    if metrics is not None:
        (run / "metrics.json").write_text(json.dumps(metrics))


def rvsm(lam, seed, val, test, sparsity, beta_growth=1.0, penalty="l0", a=None) -> dict:
    return {
        "status": "ok",
        "data": "mixed",
        "method": "rvsm",
        "penalty": penalty,
        "lam": lam,
        "a": a,
        "beta": 0.1,
        "beta_growth": beta_growth,
        "finetune_epochs": 0,
        "split_layers": ["fc"],
        "epochs": 7,
        "seed": seed,
        "objective": val,
        "val/acc": val,
        "val/acc_dense": val + 0.001,
        "val/sparsity_fc": sparsity + 0.002,
        "test/acc": test,
        "test/acc_dense": test + 0.001,
        "test/sparsity_fc": sparsity,
        "time/fit_s": 10.0 * seed,
    }


def gmp(target, seed, val, test) -> dict:
    return {
        "status": "ok",
        "data": "mixed",
        "method": "gmp",
        "sparsity_target": target,
        "prune_start": 0.1,
        "prune_end": 0.6,
        "prune_every_steps": 20,
        "split_layers": ["fc"],
        "epochs": 7,
        "seed": seed,
        "val/acc": val,
        "val/sparsity_fc": target,
        "test/acc": test,
        "test/sparsity_fc": target,
        "time/fit_s": 5.0,
    }


def hardconcrete(lam, seed, val, test, sparsity) -> dict:
    return {
        "status": "ok",
        "data": "mixed",
        "method": "hardconcrete",
        "lam": lam,
        "init_log_alpha": 2.0,
        "gate_lr": 0.02,
        "split_layers": ["fc"],
        "epochs": 7,
        "seed": seed,
        "val/acc": val,
        "val/sparsity_fc": sparsity,
        "test/acc": test,
        "test/sparsity_fc": sparsity,
        "time/fit_s": 5.0,
    }


def mean(xs):
    return math.fsum(xs) / len(xs)


def sample_std(xs):
    m = mean(xs)
    return math.sqrt(math.fsum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_settings_keyed_by_method_and_knobs_ranked_on_validation(tmp_path):
    # rvsm l0 lam=1e-5: best on test, but second on validation
    l0_val, l0_test, l0_sp = [0.990, 0.992, 0.991], [0.996, 0.995, 0.997], [0.88, 0.87, 0.89]
    for seed in (1, 2, 3):
        i = seed - 1
        make_run(tmp_path, f"l0/{seed}", rvsm(1e-5, seed, l0_val[i], l0_test[i], l0_sp[i]))
    # the same lam with a beta schedule, and hard-concrete with the same lam: their own settings
    make_run(tmp_path, "l0_grown/1", rvsm(1e-5, 1, 0.980, 0.985, 0.95, beta_growth=1.5))
    hc_val, hc_sp = [0.970, 0.974], [0.99, 0.97]
    for seed in (1, 2):
        i = seed - 1
        make_run(tmp_path, f"hc/{seed}", hardconcrete(1e-5, seed, hc_val[i], 0.96, hc_sp[i]))
    # gmp: best on validation, worse on test
    gmp_val, gmp_test = [0.995, 0.994, 0.996], [0.990, 0.989, 0.991]
    for seed in (1, 2, 3):
        make_run(tmp_path, f"gmp/{seed}", gmp(0.9, seed, gmp_val[seed - 1], gmp_test[seed - 1]))
    # unfinished runs are listed, never averaged in
    diverged = {**gmp(0.99, 1, 0, 0), "status": "diverged", "error": "train/loss is nan"}
    for key in ("val/acc", "val/sparsity_fc", "test/acc", "test/sparsity_fc", "time/fit_s"):
        del diverged[key]
    make_run(tmp_path, "gmp99/1", diverged)
    make_run(tmp_path, "gmp99/2", None)  # killed before writing metrics.json
    preempted = {**diverged, "status": "preempted", "error": "preempted by SIGTERM in epoch 1"}
    make_run(tmp_path, "gmp99/3", preempted)  # and not resumed
    (tmp_path / "l0" / "2" / "zero_pattern_fc.png").write_bytes(b"\x89PNG")

    assert main([str(tmp_path)]) == 0
    rows = read_csv(tmp_path / "report.csv")
    assert [r["setting"] for r in rows] == [  # ranked by mean validation accuracy
        "gmp sparsity_target=0.9",
        "rvsm l0 lam=1e-05 beta_growth=1",
        "rvsm l0 lam=1e-05 beta_growth=1.5",
        "hardconcrete lam=1e-05",
    ]
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4]
    by = {r["setting"]: r for r in rows}
    l0 = by["rvsm l0 lam=1e-05 beta_growth=1"]
    assert l0["seeds"] == "1 2 3" and l0["method"] == "rvsm" and l0["beta_growth"] == "1.0"
    assert math.isclose(float(l0["val_acc_mean"]), mean(l0_val))
    assert math.isclose(float(l0["val_acc_std"]), sample_std(l0_val))
    assert math.isclose(float(l0["test_acc_mean"]), mean(l0_test))
    assert math.isclose(float(l0["test_acc_std"]), sample_std(l0_test))
    assert math.isclose(float(l0["test_acc_dense_mean"]), mean(l0_test) + 0.001)
    assert math.isclose(float(l0["test_sparsity_fc_mean"]), mean(l0_sp))
    assert math.isclose(float(l0["fit_s_mean"]), 20.0)
    hc = by["hardconcrete lam=1e-05"]
    assert hc["seeds"] == "1 2" and hc["test_acc_dense_mean"] == ""  # no dense twin
    assert by["rvsm l0 lam=1e-05 beta_growth=1.5"]["test_acc_std"] == ""  # one seed

    # fronts on validation means (sparsity, accuracy), computed here by brute force
    val_points = {
        "gmp sparsity_target=0.9": (0.9, mean(gmp_val)),
        "rvsm l0 lam=1e-05 beta_growth=1": (mean(l0_sp) + 0.002, mean(l0_val)),
        "rvsm l0 lam=1e-05 beta_growth=1.5": (0.952, 0.980),
        "hardconcrete lam=1e-05": (mean(hc_sp), mean(hc_val)),
    }

    def dominated(p, others):
        return any(q[0] >= p[0] and q[1] >= p[1] and q != p for q in others)

    for name, p in val_points.items():
        overall = not dominated(p, val_points.values())
        same_method = [q for n, q in val_points.items() if n.split()[:2] == name.split()[:2]]
        expected = "all" if overall else "method" if not dominated(p, same_method) else ""
        assert by[name]["val_front"] == expected, name
    # rvsm l0 (fixed beta) is beaten on validation by gmp (sparser and more accurate there),
    # though it is the best on test: the test set chose nothing
    assert by["rvsm l0 lam=1e-05 beta_growth=1"]["val_front"] == "method"

    text = (tmp_path / "report.md").read_text()
    assert "| gmp99/1 | diverged | train/loss is nan |" in text
    assert "| gmp99/2 | no metrics.json (killed or running) | - |" in text
    assert "| gmp99/3 | preempted | preempted by SIGTERM in epoch 1 |" in text
    assert "| 0.8700 | 20 | [png](l0/2/zero_pattern_fc.png) |" in text  # the run's picture
    assert f"{mean(l0_test):.4f} ± {sample_std(l0_test):.4f}" in text
    # per-seed rows: sparse and dense accuracy side by side
    assert "| l0/2 | mixed, severity 1 | rvsm l0 lam=1e-05 beta_growth=1 | 2 |" in text
    assert "| 0.9950 | 0.9960 | 0.8700 |" in text  # test acc, test acc dense, FC sparsity
    assert "gmp: prune_start=0.1, prune_end=0.6, prune_every_steps=20" in text
    for name in ("pareto", "curves", "acc_vs_lambda", "sparsity_vs_lambda"):
        assert (tmp_path / f"report_{name}.png").read_bytes()[:4] == b"\x89PNG", name


def test_data_settings_with_another_tremor_severity_are_reported_apart(tmp_path):
    make_run(tmp_path, "easy/1", gmp(0.9, 1, 0.99, 0.99))
    make_run(tmp_path, "hard/1", gmp(0.9, 1, 0.95, 0.94), severity=0.5)
    make_run(tmp_path, "hard/2", gmp(0.9, 2, 0.97, 0.96), severity=0.5)
    assert main([str(tmp_path), "--out", str(tmp_path / "out" / "cmp")]) == 0
    rows = read_csv(tmp_path / "out" / "cmp.csv")
    assert [(r["severity"], r["seeds"]) for r in rows] == [("1.0", "1"), ("0.5", "1 2")]
    assert math.isclose(float(rows[1]["test_acc_mean"]), 0.95)
    assert all(r["rank"] == "1" and r["val_front"] == "all" for r in rows)  # ranked per data
    text = (tmp_path / "out" / "cmp.md").read_text()
    assert "## Settings on mixed, severity 0.5 data" in text
    assert "## Settings on mixed, severity 1 data" in text
    assert not (tmp_path / "out" / "cmp_acc_vs_lambda.png").exists()  # no lambda here


def test_pareto_front_matches_a_sweep_over_sorted_points():
    """Independent algorithm: walk from the sparsest point down, keep each new best accuracy."""
    points = [(x / 7, ((x * 5) % 7) / 7) for x in range(7)] + [(0.5, 0.5), (0.9, 0.1), (0.9, 0.3)]
    expected, best = set(), -1.0
    for sparsity, acc in sorted(points, key=lambda p: (-p[0], -p[1])):
        if acc > best:
            expected.add((sparsity, acc))
            best = acc
    assert set(pareto_front(points)) == expected and len(expected) >= 3


def test_hypervolume_is_the_slice_by_slice_area_and_the_front_keeps_equal_points():
    """Against the area summed slice by slice between the second coordinates the points have
    (on each slice the best first coordinate among the points reaching it), from references
    inside and outside the points' range; equal undominated points are both on the front."""
    rng = random.Random(1)
    for _ in range(50):
        ref = (rng.uniform(-0.2, 0.6), rng.uniform(-0.2, 0.6))
        points = [(rng.uniform(0.0, 1.0), rng.uniform(0.0, 1.0)) for _ in range(rng.randint(0, 9))]
        points += points[:1]  # a repeated point
        cuts = sorted({ref[1], *(y for _, y in points if y > ref[1])})
        area = 0.0
        for lo, hi in zip(cuts, cuts[1:], strict=False):
            best = max([x for x, y in points if y >= hi] + [ref[0]])
            area += (hi - lo) * (best - ref[0])
        assert abs(hypervolume(points, ref) - area) < 1e-12
        for i, p in enumerate(points):
            beaten = any(q[0] >= p[0] and q[1] >= p[1] and q != p for q in points)
            assert (i in on_front(points)) == (not beaten)


def test_mean_plus_minus_std_text():
    assert pm(0.99512, 0.00123) == "0.9951 ± 0.0012"
    assert pm(2.5, 0.25, digits=2, sign="+-") == "2.50 +- 0.25"
    assert pm(0.5, None) == "0.5000" and pm(None, None) == "-"


def test_channel_runs_report_their_flops_and_kept_channels(tmp_path):
    """Group splitting beside filter pruning: FLOPs fraction mean +- std over seeds, and each
    run's kept channels per conv layer."""
    flops = {1: 0.30, 2: 0.34}
    for seed in (1, 2):
        run = {
            **rvsm(1e-3, seed, 0.99, 0.99, 0.1, penalty="group_l0"),
            "split_layers": ["conv2", "conv3", "fc"],
            "test/flops_fraction": flops[seed],
            "test/channels_conv1": 4.0,
            "test/channels_conv2": 7.0 + seed,
            "test/channels_conv3": 12.0,
        }
        make_run(tmp_path, f"group/{seed}", run)
    make_run(tmp_path, "gmp/1", {**gmp(0.5, 1, 0.98, 0.98), "test/flops_fraction": 0.27})
    assert main([str(tmp_path)]) == 0
    by = {r["setting"]: r for r in read_csv(tmp_path / "report.csv")}
    group = by["rvsm group_l0 lam=0.001"]
    assert math.isclose(float(group["test_flops_mean"]), 0.32)
    assert math.isclose(float(group["test_flops_std"]), sample_std([0.30, 0.34]))
    assert float(by["gmp sparsity_target=0.5"]["test_flops_mean"]) == 0.27
    text = (tmp_path / "report.md").read_text()
    assert "| 0.3200 ± 0.0283 |" in text
    assert "| 0.3000 | 4/8/12 |" in text and "| 0.3400 | 4/9/12 |" in text
    assert "| 0.2700 | - |" in text  # a run without channel counts


def test_freeze_makes_config_and_json_sequences_hashable_tuples():
    from omegaconf import OmegaConf

    from rvsm.reporting.settings import setting_key
    from rvsm.utils.freeze import freeze

    assert freeze(OmegaConf.create({"x": [1, [2, 3]]}).x) == (1, (2, 3))
    assert freeze("ab") == "ab" and freeze(0.5) == 0.5 and freeze({"a": 1}) == {"a": 1}
    key = setting_key({"method": "rvsm", "split_layers": ["conv2", "conv3"], "seed": 1})
    assert hash(key) and dict(key)["split_layers"] == ("conv2", "conv3")


def test_a_picture_is_linked_only_where_the_link_travels_with_the_report(tmp_path):
    """Inside the folder read (the default report, or one in a subfolder) the picture is
    linked relative to the report; a report recorded elsewhere (experiments/ from logs/) writes
    no link to a file that is not published with it."""
    runs = tmp_path / "logs" / "sweep"
    make_run(runs, "0", rvsm(1e-5, 1, 0.9, 0.9, 0.8))
    (runs / "0" / "zero_pattern_fc.png").write_bytes(b"\x89PNG")
    for out, cell in (
        (runs / "report", "[png](0/zero_pattern_fc.png)"),
        (runs / "summary" / "report", "[png](../0/zero_pattern_fc.png)"),
        (tmp_path / "experiments" / "sweep" / "report", None),
    ):
        assert main([str(runs), "--out", str(out)]) == 0
        text = out.with_name("report.md").read_text()
        assert (cell in text) if cell else ("[png]" not in text and "| - | " in text), out


def test_runs_of_another_batch_or_precision_are_settings_apart_even_from_before_the_keys(tmp_path):
    """metrics.json records batch_size and precision; a run written before them takes both from
    the config Hydra saved (Lightning's default precision where its trainer names none)."""
    make_run(tmp_path, "old/1", gmp(0.9, 1, 0.99, 0.99))  # saved config: no batch, no precision
    config = tmp_path / "old" / "1" / ".hydra" / "config.yaml"
    config.write_text(config.read_text() + "  batch_size: 64\n")
    make_run(tmp_path, "old/2", gmp(0.9, 2, 0.98, 0.98))
    config = tmp_path / "old" / "2" / ".hydra" / "config.yaml"
    config.write_text(config.read_text() + "  batch_size: 64\ntrainer:\n  precision: 32-true\n")
    new = {**gmp(0.9, 1, 0.97, 0.97), "batch_size": 128, "precision": "bf16-mixed"}
    make_run(tmp_path, "new/1", new)
    assert main([str(tmp_path), "--out", str(tmp_path / "out" / "cmp")]) == 0
    rows = read_csv(tmp_path / "out" / "cmp.csv")
    found = sorted((r["batch_size"], r["precision"], r["seeds"]) for r in rows)
    assert found == [("128", "bf16-mixed", "1"), ("64", "32-true", "1 2")]
