"""Does training several sweep points in one process, stacked with torch.func, beat separate
one-thread processes on 2 cores? (issue 30: keep it only if it wins clearly.)

    .venv/bin/python experiments/speed/stacked.py

The paper's CNN (batch 64, 64x128 images, Adam, cross-entropy), timed in this process:

- one network with one thread: what each of two side-by-side one-thread sweep jobs runs; two of
  them on two cores give at most twice its rate (the upper bound that the stacked rows must beat);
- one network with two threads (the basic launcher's job);
- N networks stacked (``torch.func.stack_module_state`` and ``vmap`` over ``functional_call``,
  the same batch for every network, one backward pass and one Adam step over the stacked
  parameters) with two threads, for N = 2 and 4.

BatchNorm keeps no running statistics under vmap (``replace_all_batch_norm_modules_``) in the
stacked rows and, for the same work, in the single ones. Rates are images x networks per second,
medians of interleaved repeats. Writes ``stacked.md`` beside this file.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, replace_all_batch_norm_modules_, stack_module_state, vmap

from rvsm.nets import TremorCNN
from rvsm.reporting.timing import interleaved
from rvsm.utils.cpu import cpu_name
from rvsm.utils.io import write_lines

HERE = Path(__file__).parent
BATCH, STEPS, REPEATS = 64, 20, 5


def networks(n: int) -> list[nn.Module]:
    torch.manual_seed(0)
    return [replace_all_batch_norm_modules_(TremorCNN()) for _ in range(n)]


def single_steps(threads: int):
    """STEPS training steps of one network with ``threads`` torch threads."""
    (net,) = networks(1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = torch.rand(BATCH, 1, 64, 128), torch.randint(0, 2, (BATCH,))
    x = x.to(memory_format=torch.channels_last)

    def run() -> None:
        torch.set_num_threads(threads)
        for _ in range(STEPS):
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()

    return run


def stacked_steps(n: int, threads: int):
    """STEPS training steps of ``n`` stacked networks on the same batches."""
    nets = networks(n)
    params, buffers = stack_module_state(nets)
    base = copy.deepcopy(nets[0]).to("meta")
    opt = torch.optim.Adam(params.values(), lr=1e-3)
    x, y = torch.rand(BATCH, 1, 64, 128), torch.randint(0, 2, (BATCH,))

    def forward(p: dict, b: dict, images: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (images,))

    def run() -> None:
        torch.set_num_threads(threads)
        for _ in range(STEPS):
            opt.zero_grad(set_to_none=True)
            logits = vmap(forward, in_dims=(0, 0, None))(params, buffers, x)
            nn.functional.cross_entropy(logits.flatten(0, 1), y.repeat(n)).backward()
            opt.step()

    return run


def main() -> None:
    variants = {
        "1 network, 1 thread": (single_steps(1), 1),
        "1 network, 2 threads": (single_steps(2), 1),
        "2 networks stacked, 2 threads": (stacked_steps(2, 2), 2),
        "4 networks stacked, 2 threads": (stacked_steps(4, 2), 4),
    }
    t = interleaved({name: fn for name, (fn, _) in variants.items()}, REPEATS)
    rate = {name: BATCH * STEPS * n / t[name] for name, (_, n) in variants.items()}
    bound = 2 * rate["1 network, 1 thread"]
    lines = [
        "# Stacked sweep points (torch.func) against separate one-thread jobs",
        "",
        f"Written by `experiments/speed/stacked.py` on {time.strftime('%Y-%m-%d')}: "
        f"{os.cpu_count()} cores ({cpu_name()}), torch {torch.__version__}, batch {BATCH}, "
        f"{STEPS} steps a repeat, median of {REPEATS} interleaved repeats, nothing else running.",
        "",
        "| what | images x networks / s | against two one-thread jobs (2x the first row) |",
        "| --- | --- | --- |",
        *(f"| {name} | {r:.0f} | {r / bound:.2f} |" for name, r in rate.items()),
        "",
        "Two one-thread jobs side by side reach at most twice the first row (each has a core);",
        "a stacked row above 1.00 in the last column would beat them.",
    ]
    write_lines(HERE / "stacked.md", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
