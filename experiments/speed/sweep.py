"""A 4-point lambda sweep typed as a user types it, at commit 3eb042f and at this checkout, side by
side on one machine (issue 30's sweep target: at most half 3eb042f's wall time, its best point
on validation still at the headline); with ``--train``, make train's job instead.

    .venv/bin/python experiments/speed/sweep.py [--train | --table-only] [--old-tree D] [--out D]

``--train`` times ``python -m rvsm.train`` (make train's command) from both trees in turn, A B A
B (``TRAIN_PAIRS`` runs each), and writes ``train.md``; without it:

The old commit is checked out as a git worktree (``--old-tree D``, default /tmp/rvsm_3eb042f,
made if missing); both sweeps run with this checkout's ``.venv/bin/python`` from their own folder
(each its own data cache, warmed first by one untimed 1-step job), the old first, one after the
other, nothing else running. Whole-process wall time, kept in ``OUT/walls.json``; writes
``sweep.md`` beside this file (``--table-only``: from OUT as it is, nothing run). A sweep's best
point is chosen as the headline is: the highest validation accuracy among the points with at
least 90% FC zeros on validation.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from rvsm.utils.cpu import cpu_name
from rvsm.utils.io import write_json, write_lines

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
OLD = "3eb042f"
LAMS = ("1e-5", "1.5e-5", "3e-5", "1e-4")  # 1e-4 is past the l0 cliff (conf/grid/sweep)
SWEEP = ["-m", f"penalty.lam={','.join(LAMS)}"]
WARM = ["trainer.max_epochs=1", "method.finetune_epochs=0"] + [
    f"+trainer.limit_{s}_batches=1" for s in ("train", "val", "test")
]


def run(tree: Path, args: list[str], out: Path) -> float:
    """Wall seconds of ``python -m rvsm.train ARGS`` run from ``tree``, output under ``out``."""
    python = str(ROOT / ".venv" / "bin" / "python")
    start = time.perf_counter()
    subprocess.run(
        [python, "-m", "rvsm.train", *args, f"hydra.sweep.dir={out}", f"hydra.run.dir={out}"],
        cwd=tree,
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )
    return time.perf_counter() - start


def budget(run_dir: Path, metrics: dict) -> str:
    """A run's batch size and precision: from its metrics.json, or (a run written before they
    were recorded there) the literal values of the config Hydra saved."""
    if "precision" in metrics:
        return f"{metrics['batch_size']} | {metrics['precision']}"
    cfg = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    return f"{cfg['data']['batch_size']} | {cfg['trainer'].get('precision', '32-true')}"


def _cell(metrics: dict, key: str) -> str:
    """A metric to 4 places, or - where the run has none (a collapsed run is not tested)."""
    return f"{metrics[key]:.4f}" if key in metrics else "-"


def points(sweep_dir: Path) -> list[dict]:
    """Each job's lambda and metrics.json, in sweep order."""
    found = []
    for path in sorted(sweep_dir.glob("*/metrics.json"), key=lambda p: int(p.parent.name)):
        found.append(
            {"lam": LAMS[int(path.parent.name)], "dir": path.parent, **json.loads(path.read_text())}
        )
    return found


TRAIN_PAIRS = 2


def time_make_train(trees: dict[str, Path], out: Path) -> None:
    """make train's job from each tree, alternated; train.md with each run's wall and result."""
    rows, walls = [], {name: [] for name in trees}
    for i in range(TRAIN_PAIRS):
        for name, tree in trees.items():
            run_dir = out / "train" / f"{name.replace(' ', '_')}_{i}"
            walls[name].append(run(tree, [], run_dir))
            m = json.loads((run_dir / "metrics.json").read_text())
            rows.append(
                f"| {name} | {i + 1} | {walls[name][-1]:.1f} | {m['epochs']} | "
                f"{budget(run_dir, m)} | {_cell(m, 'test/acc')} | {_cell(m, 'test/sparsity_fc')} |"
            )
    mean = {name: sum(w) / len(w) for name, w in walls.items()}
    pairs = [new / old for old, new in zip(walls[OLD], walls["this checkout"], strict=True)]
    lines = [
        "# make train, side by side",
        "",
        f"Written by `experiments/speed/sweep.py --train` on {time.strftime('%Y-%m-%d')}: "
        f"{os.cpu_count()} cores ({cpu_name()}), make train's command (`python -m rvsm.train`, "
        f"seed 12345) from each commit's worktree with a warm data cache, in turn {OLD}, this "
        f"checkout, {TRAIN_PAIRS} runs each, nothing else running; whole-process wall time.",
        "",
        "| commit | run | wall s | epochs | batch | precision | test acc | test FC zeros |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"Mean wall: {mean['this checkout']:.1f} s against {mean[OLD]:.1f} s, "
        f"**{mean['this checkout'] / mean[OLD]:.2f}x** (pairs "
        + ", ".join(f"{r:.2f}x" for r in pairs)
        + ").",
    ]
    write_lines(HERE / "train.md", lines)
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old-tree", type=Path, default=Path(f"/tmp/rvsm_{OLD}"))
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "speed_sweep")
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--train", action="store_true")
    args = parser.parse_args()
    trees = {OLD: args.old_tree, "this checkout": ROOT}
    if not args.old_tree.exists() and not args.table_only:
        subprocess.run(
            ["git", "worktree", "add", "-f", str(args.old_tree), OLD], cwd=ROOT, check=True
        )
    if args.train:
        for name, tree in trees.items():  # the data cache, untimed
            run(tree, WARM, args.out / name.replace(" ", "_") / "warm")
        time_make_train(trees, args.out)
        return
    if not args.table_only:
        walls = {}
        for name, tree in trees.items():
            out = args.out / name.replace(" ", "_")
            run(tree, WARM, out / "warm")  # the data cache, untimed
            walls[name] = run(tree, SWEEP, out / "sweep")
            print(f"{name}: {walls[name]:.1f} s", file=sys.stderr)
        write_json(args.out / "walls.json", walls, sort_keys=False)
    write_table(json.loads((args.out / "walls.json").read_text()), args.out)


def write_table(walls: dict[str, float], out: Path) -> None:
    """sweep.md from the measured walls and the sweeps' run folders under ``out``."""
    found = {name: points(out / name.replace(" ", "_") / "sweep") for name in walls}
    ratio = walls["this checkout"] / walls[OLD]
    lines = [
        "# A 4-point lambda sweep, side by side",
        "",
        f"Written by `experiments/speed/sweep.py` on {time.strftime('%Y-%m-%d')}: "
        f"{os.cpu_count()} cores ({cpu_name()}), torch's default threads, the basic launcher "
        f"(one job after another), as a user types it: `python -m rvsm.train {' '.join(SWEEP)}`. "
        f"Each commit's sweep ran once from its own worktree with a warm data cache, {OLD} first, "
        "nothing else running; whole-process wall time.",
        "",
        "| commit | wall s | ratio |",
        "| --- | --- | --- |",
        f"| {OLD} | {walls[OLD]:.1f} | 1.00 |",
        f"| this checkout | {walls['this checkout']:.1f} | {ratio:.2f} |",
        "",
        "| commit | penalty.lam | status | epochs | batch | precision | val acc | test acc "
        "| test FC zeros |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, jobs in found.items():
        for m in jobs:
            lines.append(
                f"| {name} | {m['lam']} | {m.get('status', 'ok')} | {m.get('epochs', '')} | "
                f"{budget(m['dir'], m)} | {m['val/acc']:.4f} | {_cell(m, 'test/acc')} | "
                f"{_cell(m, 'test/sparsity_fc')} |"
            )
    lines.append("")
    for name, jobs in found.items():
        sparse = [m for m in jobs if m.get("val/sparsity_fc", 0.0) >= 0.90]
        if not sparse:
            lines.append(f"- {name}: no point reached 90% FC zeros on validation.")
            continue
        best = max(sparse, key=lambda m: m["val/acc"])
        lines.append(
            f"- {name}: the best point on validation (the highest val acc among the points with "
            f">= 90% FC zeros on validation) is lam {best['lam']}: val {best['val/acc']:.4f}, "
            f"test {_cell(best, 'test/acc')}, FC zeros {_cell(best, 'test/sparsity_fc')}."
        )
    write_lines(HERE / "sweep.md", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
