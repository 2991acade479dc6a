"""A real multirun through the CLI (joblib launcher, W&B offline + CSV), then the report on it."""

from __future__ import annotations

import csv
import json

from tests.helpers import TINY_DATA, run_cli, wandb_history_keys, wandb_records


def test_multirun_with_joblib_and_wandb_then_report(tmp_path, cache_dir):
    sweep_dir = tmp_path / "sweep"
    result = run_cli(
        [
            "-m",
            *TINY_DATA,
            "penalty=l0,l1",
            "penalty.lam=1e-5,1e-3",
            "logger=wandb",
            "trainer.log_every_n_steps=1",  # per-step curves even from 2 batches an epoch
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            f"hydra.sweep.dir={sweep_dir}",
        ],
        tmp_path,
        cache_dir,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p.parent for p in sweep_dir.glob("*/metrics.json"))
    assert len(jobs) == 4
    settings = {
        (m["penalty"], m["lam"])
        for m in (json.loads((j / "metrics.json").read_text()) for j in jobs)
    }
    assert settings == {("l0", 1e-5), ("l0", 1e-3), ("l1", 1e-5), ("l1", 1e-3)}

    offline = [next((j / "wandb").glob("offline-run-*")) for j in jobs]
    assert len({p.name for p in offline}) == 4  # one W&B run per job
    names, groups = set(), set()
    for run in offline:
        records = wandb_records(run)
        assert {"train/loss_step", "train/acc", "train/w_minus_u", "val/acc", "val/acc_dense"} <= (
            wandb_history_keys(records)
        )
        assert {"val/sparsity_fc", "test/sparsity_fc", "test/acc"} <= wandb_history_keys(records)
        (meta,) = [r["run"] for r in records if r.get("type") == "run"]
        names.add(meta["display_name"])
        groups.add(meta["run_group"])
    assert groups == {str(sweep_dir)}  # grouped by sweep
    assert len(names) == 4 and all("penalty" in n and "logger" not in n for n in names)

    report = run_cli([str(sweep_dir)], tmp_path, cache_dir, module="rvsm.report")
    assert report.returncode == 0, report.stderr[-3000:]
    with open(sweep_dir / "report.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["penalty"], float(r["lam"])) for r in rows} == settings
    assert all(r["seeds"] == "12345" and 0 <= float(r["test_acc_mean"]) <= 1 for r in rows)
    table = (sweep_dir / "report.md").read_text()
    assert table.count("| rvsm l0 lam=") == 2 * 2  # settings table and runs table
    for name in ("acc_vs_lambda", "sparsity_vs_lambda", "pareto", "curves"):
        png = sweep_dir / f"report_{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_a_sweep_run_again_with_skip_finished_keeps_its_finished_jobs_and_overwrites_no_other(
    tmp_path, cache_dir
):
    sweep = tmp_path / "sweep"
    base = ["-m", *TINY_DATA, f"hydra.sweep.dir={sweep}"]
    first = run_cli([*base, "seed=1,2"], tmp_path, cache_dir)
    assert first.returncode == 0, first.stderr[-3000:]
    held = {n: (sweep / str(n) / "metrics.json").read_bytes() for n in (0, 1)}
    # again with the switch, job 1 now seed 3: job 0 is the same run (kept, not trained), job 1
    # another run, and its folder holds seed 2's finished run: refused, not trained over
    again = run_cli([*base, "seed=1,3", "skip_finished=true"], tmp_path, cache_dir)
    assert again.returncode == 2
    assert again.stdout.count("rvsm: kept the finished run") == 1
    assert f"rvsm: kept the finished run in {sweep / '0'} " in again.stdout
    (line,) = again.stderr.strip().splitlines()
    assert f"{sweep / '1'} holds a finished run of other settings" in line
    assert [(sweep / str(n) / "metrics.json").read_bytes() for n in (0, 1)] == [held[0], held[1]]
