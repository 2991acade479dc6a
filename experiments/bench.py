"""Benchmark suite (`make bench`): writes experiments/benchmarks.md.

Each figure is a median over repeats after a warm-up, with a ratio against a baseline measured in
the same run:
1. RVSM overhead: time per training step with l0 / tl1 splitting vs penalty none.
2. Thresholding: prox of l0, l1, tl1 on 10M float32 elements vs ``clone()`` of the same tensor.
3. Framework overhead: the Lightning training loop vs a plain PyTorch loop, same model, data, steps.
4. Time to the headline: wall time of the default training command from a warm data cache, with
   where the time went (training batches, validation, test, the rest) from its metrics.json.
5. GPU: the step benchmark on ``trainer=gpu`` when CUDA is available; otherwise it says so.
Timed configurations are interleaved (each repeat runs every configuration once), so drift in
this VM's speed hits all of them alike.
The data benchmark (experiments/bench_data.py) runs as its own process from `make bench`: run after
training in this process, torch's idle OpenMP threads took CPU from the renderer (measured 356 vs
549 images/s/core for handwriting).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from rvsm.methods.rvsm import RVSM
from rvsm.module import SparseModule
from rvsm.nets import TremorCNN
from rvsm.penalties import L0, L1, TL1, NoPenalty

BATCH, STEPS, REPEATS = 64, 60, 5
PENALTIES = {"none": NoPenalty(), "l0": L0(1e-5), "tl1": TL1(1.8e-5, 0.01)}


def interleaved(fns: dict, repeats: int = REPEATS, warmup: int = 1) -> dict[str, float]:
    """Median seconds of each function, timed round-robin: one call of each per repeat."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def batches() -> DataLoader:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(BATCH * STEPS, 1, 64, 128, generator=gen)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (BATCH * STEPS,), generator=gen)
    return DataLoader(TensorDataset(x, y), batch_size=BATCH)


def make_module(penalty) -> SparseModule:
    torch.manual_seed(0)
    optimizer = lambda params: torch.optim.Adam(params, lr=1e-3)  # noqa: E731
    return SparseModule(TremorCNN(), RVSM(penalty, beta=0.1), optimizer=optimizer)


def lightning_fit(penalty, accelerator: str = "cpu") -> None:
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        max_steps=STEPS,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    trainer.fit(make_module(penalty), batches())


def plain_loop() -> None:
    """The same steps by hand: dense model, Adam, cross-entropy; no Lightning."""
    module = make_module(NoPenalty())
    net, optimizer = module.net, torch.optim.Adam(module.parameters(), lr=1e-3)
    net.train()
    for x, y in batches():
        loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def step_overhead() -> list[str]:
    fns = {name: (lambda p=p: lightning_fit(p)) for name, p in PENALTIES.items()}
    t = interleaved({**fns, "plain": plain_loop})
    base, plain = t["none"], t["plain"]
    rows = [f"| penalty none (baseline) | {1e3 * base / STEPS:.1f} ms | 1.00 | - |"]
    for name in ("l0", "tl1"):
        ratio = t[name] / base
        rows.append(f"| penalty {name} | {1e3 * t[name] / STEPS:.1f} ms | {ratio:.3f} | <= 1.05 |")
    rows.append(
        f"| plain PyTorch loop (baseline, next row) | {1e3 * plain / STEPS:.1f} ms | 1.00 | - |"
    )
    rows.append(
        f"| Lightning loop, penalty none | {1e3 * base / STEPS:.1f} ms | {base / plain:.3f} "
        "| <= 1.10 |"
    )
    return rows


def gpu_steps() -> list[str]:
    if not torch.cuda.is_available():
        return ["No GPU on this machine: the GPU figure was not measured."]
    t = interleaved({n: (lambda p=p: lightning_fit(p, "gpu")) for n, p in PENALTIES.items()})
    name = torch.cuda.get_device_name(0)
    return [f"{name}: {BATCH * STEPS / s:.0f} images/s with penalty {n}" for n, s in t.items()]


def prox_speed() -> list[str]:
    x = torch.randn(10_000_000, generator=torch.Generator().manual_seed(0))
    proxes = {"l0": L0(1e-5), "l1": L1(1.4e-3), "tl1": TL1(1.8e-5, 0.01)}
    fns = {"clone": x.clone, **{n: (lambda p=p: p.prox(x, 0.1)) for n, p in proxes.items()}}
    t = interleaved(fns, repeats=9)
    rows = [f"| clone() (baseline) | {1e3 * t['clone']:.1f} ms | 1.00 | - |"]
    for name in proxes:
        target = "<= 4" if name == "tl1" else "-"
        rows.append(
            f"| prox {name} | {1e3 * t[name]:.1f} ms | {t[name] / t['clone']:.2f} | {target} |"
        )
    fc = torch.randn(2, 4096, generator=torch.Generator().manual_seed(0)) * 0.03
    small = interleaved({"tl1": lambda: proxes["tl1"].prox(fc, 0.1)}, repeats=201)["tl1"]
    rows.append(
        f"| prox tl1 on the FC layer's 8,192 weights (once a step) | {1e6 * small:.0f} us | - | - |"
    )
    return rows


def time_to_headline() -> list[str]:
    """The default training run as a user starts it, after one run that fills the data cache."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "rvsm.train", "trainer.enable_progress_bar=false"]
        # warm the cache: generate the default data if absent (and train one batch)
        subprocess.run(
            [
                *cmd,
                "trainer.max_epochs=1",
                "+trainer.limit_train_batches=1",
                "+trainer.limit_val_batches=1",
                "+trainer.limit_test_batches=1",
                f"hydra.run.dir={tmp}/warm",
            ],
            cwd=root,
            check=True,
            capture_output=True,
        )
        start = time.perf_counter()
        subprocess.run(
            [*cmd, f"hydra.run.dir={tmp}/run"], cwd=root, check=True, capture_output=True
        )
        wall = time.perf_counter() - start
        m = json.loads(Path(tmp, "run", "metrics.json").read_text())
    met = m["test/acc"] >= 0.99 and m["test/sparsity_fc"] >= 0.86
    parts = {k: m[f"time/{k}_s"] for k in ("train", "val", "test")}
    rest = wall - parts["train"] - parts["val"] - parts["test"]
    return [
        "| what | time | share |",
        "| --- | --- | --- |",
        f"| whole command, warm cache (target < 180 s) | {wall:.0f} s | 100% |",
        *(f"| {k} | {v:.0f} s | {v / wall:.0%} |" for k, v in parts.items()),
        f"| the rest: start-up, imports, reading the cache, checkpoints | {rest:.0f} s "
        f"| {rest / wall:.0%} |",
        "",
        f"Result: test/acc {m['test/acc']:.4f}, test/sparsity_fc {m['test/sparsity_fc']:.4f} "
        f"after {m['epochs']} epochs: headline {'met' if met else 'NOT met'}.",
    ]


def main() -> None:
    torch.manual_seed(0)
    head = "| what | time | ratio | target |\n| --- | --- | --- | --- |"
    parts = [
        "# Benchmarks",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__} with {torch.get_num_threads()} threads, Python "
        f"{platform.python_version()}. Regenerate with `make bench`. Medians of interleaved "
        "repeats after a warm-up.",
        "",
        f"## Training step (batch {BATCH}, 64x128, {STEPS} steps a repeat, {REPEATS} repeats)",
        "",
        head,
        *step_overhead(),
        "",
        "## Thresholding, 10M float32 elements (9 repeats)",
        "",
        head,
        *prox_speed(),
        "",
        "Targets: a ratio above its target is a miss. The step ratios move by about +-5% between",
        "invocations on this VM (interleaving the repeats evens out drift, not noise); the prox",
        "on the FC weights, the only work Tl1 adds to a step, is the last row above.",
        "",
        "## Time to the headline: the default run (`make train`) from a warm data cache",
        "",
        *time_to_headline(),
        "",
        "## GPU",
        "",
        *gpu_steps(),
        "",
    ]
    text = "\n".join(parts)
    print(text)
    Path(__file__).with_name("benchmarks.md").write_text(text)


if __name__ == "__main__":
    main()
