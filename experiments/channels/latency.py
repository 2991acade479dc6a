"""Latency of the record's exported networks, against the exported default network.

    .venv/bin/python experiments/channels/latency.py logs/channels \
        --baseline logs/channels/default/default_model/model.pt

Every ``model.pt`` under the folder (``python -m rvsm.export`` writes it into its run folder,
beside ``metrics.json``) is timed on random images at batch 1 and 256, interleaved with the
baseline (the exported default network: RVSM-l0 on the FC layer, 7 epochs, its FC layer stored
as values and a bit mask) in every repeat; each time is the median of the repeats, each ratio is
against the baseline's median in the same repeats. Writes ``experiments/channels/latency.md``
(or ``--out``): a row per run, each setting's mean +- sample std over seeds, and on how many
seeds the targets of the record hold (test accuracy >= 0.99, at most a third of the dense FLOPs,
at most half the baseline's time at batch 256).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch

from rvsm.reporting.settings import data_label, knob_text
from rvsm.reporting.stats import mean_std
from rvsm.reporting.tables import pm
from rvsm.reporting.timing import duration_text as _ms
from rvsm.reporting.timing import interleaved
from rvsm.utils.io import atomic_open

BATCHES = ((1, 201), (256, 21))  # batch size, interleaved repeats
TARGET_ACC, TARGET_FLOPS, TARGET_SPEEDUP = 0.99, 1 / 3, 2.0
OUT = Path(__file__).with_name("latency.md")
BASELINE = "baseline"


def setting_label(m: dict) -> str:
    """A run's setting in a few words: method, its main knobs, the split layers."""
    knobs = [
        f"{k} {knob_text(m[k])}"
        for k in m.get("main_knobs", [])
        if k != "method" and m.get(k) is not None
    ]
    layers = [f"layers {knob_text(m['split_layers'])}"] if m.get("split_layers") else []
    return ", ".join([str(m.get("method")), *knobs, *layers])


def exports(m: dict) -> str:
    """The folder, under the root, of a run's folder (``gmp`` for ``gmp/0``; ``now/gmp`` when
    the root holds several sets of exports)."""
    return Path(m["run"]).parent.as_posix()


def channels(m: dict) -> str:
    return "/".join(f"{m[f'test/channels_conv{i}']:.0f}" for i in (1, 2, 3))


def runs(root: Path) -> list[dict]:
    """Each exported run under ``root``: its metrics and model file, in folder order."""
    found = []
    for model in sorted(root.rglob("model.pt")):
        metrics = model.parent / "metrics.json"
        if metrics.is_file():
            m = json.loads(metrics.read_text())
            found.append({**m, "model": model, "run": str(model.parent.relative_to(root))})
    return found


def time_all(files: dict[str, Path], image_size: tuple[int, int]) -> dict[int, dict[str, float]]:
    """Median seconds per forward pass of each TorchScript file, per batch size, all files
    interleaved in every repeat."""
    nets = {name: torch.jit.load(str(path)).eval() for name, path in files.items()}
    out = {}
    for batch, repeats in BATCHES:
        x = torch.rand(batch, 1, *image_size, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            fns = {name: (lambda net=net, x=x: net(x)) for name, net in nets.items()}
            out[batch] = interleaved(fns, repeats)
    return out


def time_in_processes(
    files: dict[str, Path], image_size: tuple[int, int], processes: int
) -> list[dict[int, dict[str, float]]]:
    """``time_all`` in each of ``processes`` fresh processes, one after another: on this
    project's VM the same files ran up to 1.5x slower in one process than in the next (the
    baseline's batch-256 time 12.6 ms in one, 17.8 ms in another), so one process is no
    measurement."""
    out = []
    for _ in range(processes):
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            out.append(pool.submit(time_all, files, image_size).result())
    return out


def _pm(values: list[float], digits: int) -> str:
    return pm(*mean_std(values), digits=digits, sign="+-")


def meets(m: dict) -> bool:
    return (
        m["test/acc"] >= TARGET_ACC
        and m["test/flops_fraction"] <= TARGET_FLOPS
        and m["speedup_256"] >= TARGET_SPEEDUP
    )


def report(rows: list[dict], timings: list[dict[int, dict[str, float]]], baseline: Path) -> str:
    """The page: per-run rows, then per-setting means and the targets' count. Each of
    ``timings`` (one per process) holds each run's median under its ``run`` name and the
    baseline's under ``BASELINE``; a time is the median over processes, a speed-up the median
    over processes of the baseline's time / the run's in the same process."""
    med = statistics.median
    base = {batch: med(t[batch][BASELINE] for t in timings) for batch, _ in BATCHES}
    for m in rows:
        for batch, _ in BATCHES:
            m[f"time_{batch}"] = med(t[batch][m["run"]] for t in timings)
            m[f"speedup_{batch}"] = med(t[batch][BASELINE] / t[batch][m["run"]] for t in timings)
    spread = ", ".join(_ms(t[256][BASELINE]) for t in timings)
    lines = [
        "# Latency of the exported networks (experiments/channels)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__} with {torch.get_num_threads()} threads; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Regenerate with the command in "
        f"experiments/channels/README.md. Each time is the median over {len(timings)} "
        "processes, one after another, of the median of interleaved repeats "
        f"({', '.join(f'{r} at batch {b}' for b, r in BATCHES)}); speed-up = the median over "
        "the processes of the baseline's time in the same repeats / the run's.",
        "",
        f"Baseline: `{baseline}` (the exported default network: "
        "RVSM-l0 on the FC layer, 7 epochs): "
        f"{_ms(base[1])} at batch 1, {_ms(base[256])} at batch 256 (per process: {spread}).",
        "",
        "| exports | data | setting | seed | test acc | channels conv1/2/3 | FLOPs / dense | "
        "batch 1 | "
        "speed-up | batch 256 | speed-up |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in rows:
        lines.append(
            f"| {exports(m)} | {data_label(m)} | {setting_label(m)} | {m.get('seed')} | "
            f"{m['test/acc']:.4f} | "
            f"{channels(m)} | {m['test/flops_fraction']:.3f} | {_ms(m['time_1'])} | "
            f"{m['speedup_1']:.2f} | {_ms(m['time_256'])} | {m['speedup_256']:.2f} |"
        )
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for m in rows:
        groups.setdefault((exports(m), data_label(m), setting_label(m)), []).append(m)
    lines += [
        "",
        "Mean +- sample std over seeds; the last column counts the seeds on which test accuracy "
        f">= {TARGET_ACC}, FLOPs <= 1/3 of dense and speed-up >= {TARGET_SPEEDUP:g} at batch 256 "
        "all hold.",
        "",
        "| exports | data | setting | seeds | test acc | FLOPs / dense | speed-up batch 1 | "
        "speed-up batch 256 | targets met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (folder, data, setting), group in groups.items():
        lines.append(
            f"| {folder} | {data} | {setting} | {len(group)} | "
            f"{_pm([m['test/acc'] for m in group], 4)} | "
            f"{_pm([m['test/flops_fraction'] for m in group], 3)} | "
            f"{_pm([m['speedup_1'] for m in group], 2)} | "
            f"{_pm([m['speedup_256'] for m in group], 2)} | "
            f"{sum(map(meets, group))} of {len(group)} |"
        )
    return "\n".join(lines) + "\n"


def record_args(description: str, out: Path) -> tuple[argparse.Namespace, list[Path]]:
    """The command line of a script over export_record.sh's folder (``root``, ``--out``,
    ``--processes``) and the folder's filter-pruned runs (``gmp/<n>``), refused in one line
    without ``baseline/`` and a ``gmp/<n>/`` run or with fewer than one process."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("root", type=Path, help="export_record.sh's folder (baseline/, gmp/)")
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--processes", type=int, default=5, help="fresh processes that time")
    args = parser.parse_args()
    runs = sorted((args.root / "gmp").glob("[0-9]*"))
    if not runs or not (args.root / "baseline").is_dir():
        parser.error(f"{args.root}: needs baseline/ and gmp/<n>/ run folders (export_record.sh)")
    if args.processes < 1:
        parser.error(f"--processes: at least 1, got {args.processes}")
    return args, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path, help="folder holding the exported runs")
    parser.add_argument("--baseline", type=Path, required=True, help="the exported default")
    parser.add_argument("--size", type=int, nargs=2, default=(64, 128), metavar=("H", "W"))
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--processes", type=int, default=5, help="fresh processes that time")
    args = parser.parse_args()
    if not args.baseline.is_file():
        parser.error(f"--baseline: no file {args.baseline}")
    rows = [m for m in runs(args.root) if m["model"].resolve() != args.baseline.resolve()]
    if not rows:
        parser.error(f"no model.pt beside a metrics.json under {args.root}")
    files = {BASELINE: args.baseline, **{m["run"]: m["model"] for m in rows}}
    if args.processes < 1:
        parser.error(f"--processes: at least 1, got {args.processes}")
    timings = time_in_processes(files, tuple(args.size), args.processes)
    text = report(rows, timings, args.baseline)
    with atomic_open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
