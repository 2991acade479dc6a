"""Benchmark suite (`make bench`): writes experiments/benchmarks.md.

Each figure is a median over repeats after a warm-up, with a ratio against a baseline measured in
the same run:
1. RVSM overhead: time per training step with l0 / tl1 splitting vs penalty none.
2. Thresholding: prox of l0, l1, tl1 on 10M float32 elements vs ``clone()`` of the same tensor.
3. Framework overhead: the Lightning training loop vs a plain PyTorch loop, same model, data, steps.
The data benchmark (experiments/bench_data.py) runs as its own process from `make bench`: run after
training in this process, torch's idle OpenMP threads took CPU from the renderer (measured 356 vs
549 images/s/core for handwriting).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from rvsm.module import RVSMModule
from rvsm.nets import TremorCNN
from rvsm.penalties import L0, L1, TL1, NoPenalty

BATCH, STEPS, REPEATS = 64, 60, 5
PENALTIES = {"none": NoPenalty(), "l0": L0(1e-5), "tl1": TL1(1.8e-5, 0.01)}


def timed(fn, repeats: int = REPEATS, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def batches() -> DataLoader:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(BATCH * STEPS, 1, 64, 128, generator=gen)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (BATCH * STEPS,), generator=gen)
    return DataLoader(TensorDataset(x, y), batch_size=BATCH)


def make_module(penalty) -> RVSMModule:
    torch.manual_seed(0)
    optimizer = lambda params: torch.optim.Adam(params, lr=1e-3)  # noqa: E731
    return RVSMModule(TremorCNN(), penalty, beta=0.1, optimizer=optimizer)


def lightning_fit(penalty) -> None:
    trainer = L.Trainer(
        accelerator="cpu",
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
    base = timed(lambda: lightning_fit(PENALTIES["none"]))
    rows = [f"| penalty none (baseline) | {1e3 * base / STEPS:.1f} ms | 1.00 | - |"]
    for name in ("l0", "tl1"):
        t = timed(lambda n=name: lightning_fit(PENALTIES[n]))
        rows.append(f"| penalty {name} | {1e3 * t / STEPS:.1f} ms | {t / base:.3f} | <= 1.05 |")
    plain = timed(plain_loop)
    ms = 1e3 * plain / STEPS
    rows.append(f"| plain PyTorch loop (baseline, next row) | {ms:.1f} ms | 1.00 | - |")
    rows.append(
        f"| Lightning loop, penalty none | {1e3 * base / STEPS:.1f} ms | {base / plain:.3f} "
        "| <= 1.10 |"
    )
    return rows


def prox_speed() -> list[str]:
    x = torch.randn(10_000_000, generator=torch.Generator().manual_seed(0))
    base = timed(lambda: x.clone(), repeats=9)
    rows = [f"| clone() (baseline) | {1e3 * base:.1f} ms | 1.00 | - |"]
    for name, penalty in (("l0", L0(1e-5)), ("l1", L1(1.4e-3)), ("tl1", TL1(1.8e-5, 0.01))):
        t = timed(lambda p=penalty: p.prox(x, 0.1), repeats=9)
        target = "<= 4" if name == "tl1" else "-"
        rows.append(f"| prox {name} | {1e3 * t:.1f} ms | {t / base:.2f} | {target} |")
    return rows


def main() -> None:
    torch.manual_seed(0)
    head = "| what | time | ratio | target |\n| --- | --- | --- | --- |"
    parts = [
        "# Benchmarks",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}. Regenerate with "
        "`make bench`. Medians of repeats after a warm-up.",
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
    ]
    text = "\n".join(parts)
    print(text)
    Path(__file__).with_name("benchmarks.md").write_text(text)


if __name__ == "__main__":
    main()
