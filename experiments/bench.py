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
from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from rvsm.methods.penalties import L0, L1, TL1, NoPenalty
from rvsm.methods.rvsm import RVSM
from rvsm.module import SparseModule
from rvsm.nets import TremorCNN
from rvsm.reporting.timing import duration_text as _ms
from rvsm.reporting.timing import interleaved
from rvsm.runtime.build import build_model
from rvsm.utils.cpu import cpu_fields, cpu_name

BATCH, STEPS, REPEATS = 64, 60, 5
QUICK = "--full" not in sys.argv  # make bench: the quick bench; make bench-full: every section
# repeats of the step and overhead sections: 3 in the quick bench (its 5-minute budget), else all
SECTION_REPEATS = 3 if QUICK else REPEATS
PENALTIES = {"none": NoPenalty(), "l0": L0(1e-5), "tl1": TL1(1.8e-5, 0.01)}


def batches() -> DataLoader:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(BATCH * STEPS, 1, 64, 128, generator=gen)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (BATCH * STEPS,), generator=gen)
    return DataLoader(TensorDataset(x, y), batch_size=BATCH)


def make_module(
    penalty, block_order: str = "pool_first", compile: bool = False, retain: bool = True
) -> SparseModule:
    """The default network and RVSM (beta 0.1, Adam 1e-3) built as a run builds it."""
    model = {
        "_target_": "rvsm.module.SparseModule",
        "net": {"_target_": "rvsm.nets.TremorCNN", "block_order": block_order},
        "optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3},
        "compile": compile,
        "retain_freed_memory": retain,
    }
    torch.manual_seed(0)
    return build_model(OmegaConf.create(model), RVSM(penalty, beta=0.1), ["fc"], (64, 128))


def lightning_fit(
    penalty,
    accelerator: str = "cpu",
    module: SparseModule | None = None,
    loader=None,
    precision: str = "32-true",
) -> None:
    trainer = L.Trainer(
        accelerator=accelerator,
        precision=precision,
        devices=1,
        max_steps=STEPS,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    trainer.fit(module or make_module(penalty), loader or batches())


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
    t = interleaved({**fns, "plain": plain_loop}, SECTION_REPEATS)
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


def machine_limits() -> tuple[float, float]:
    """This process's float32 matmul rate (GFLOP/s, 2048 x 2048) and memory-copy bandwidth
    (GB/s, read + write of a 256 MB tensor): the two roofs a step can be bound by."""
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    big = torch.rand(64 * 2**20)
    out = torch.empty_like(big)
    t = interleaved({"mm": lambda: a @ b, "copy": lambda: out.copy_(big)}, repeats=9)
    return 2 * 2048**3 / t["mm"] / 1e9, 2 * big.numel() * 4 / t["copy"] / 1e9


def step_profile() -> list[str]:
    """Where the default step's time goes: torch.profiler over the Lightning steps of one fit
    (after a warm-up fit), per operator its self CPU time a step, calls a step and memory it
    allocates a step; then the step's rate against the two roofs of ``machine_limits``."""
    from torch.profiler import ProfilerActivity, profile

    module, loader = make_module(NoPenalty()), batches()
    lightning_fit(None, module=module, loader=loader)  # warm-up
    start = time.perf_counter()
    lightning_fit(None, module=module, loader=loader)  # timed without the profiler's overhead
    wall = time.perf_counter() - start
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        lightning_fit(None, module=module, loader=loader)
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in ops)
    rows = [
        "| operator | self CPU a step | share | calls a step | allocated a step |",
        "| --- | --- | --- | --- | --- |",
    ]
    for e in ops[:12]:
        rows.append(
            f"| `{e.key}` | {e.self_cpu_time_total / STEPS / 1e3:.2f} ms | "
            f"{e.self_cpu_time_total / total:.0%} | {e.count / STEPS:.0f} | "
            f"{max(e.self_cpu_memory_usage, 0) / STEPS / 2**20:.1f} MiB |"
        )
    allocated = sum(max(e.self_cpu_memory_usage, 0) for e in ops) / STEPS
    step_s = wall / STEPS
    gflops = BATCH * flops_per_image() / step_s / 1e9
    matmul, copy = machine_limits()
    # each allocated byte is written once and read at least once: a lower bound on traffic
    traffic = 2 * allocated / step_s / 1e9
    return [
        *rows,
        "",
        "| limit | this process | the step | share |",
        "| --- | --- | --- | --- |",
        f"| float32 matmul 2048 x 2048 (GFLOP/s) | {matmul:.0f} | {gflops:.1f} "
        f"| {gflops / matmul:.0%} |",
        f"| memory copy, 256 MB (GB/s, read + write) | {copy:.1f} | {traffic:.1f} "
        f"| {traffic / copy:.0%} |",
        "",
        f"The step ({1e3 * step_s:.1f} ms unprofiled) moves at least twice the "
        f"{allocated / 2**20:.0f} MiB that the profiler sees it allocate (written once, read "
        "once; oneDNN's own buffers are not seen): a lower bound on its memory traffic. The "
        "operator times are the profiled run's, which the profiler slows.",
    ]


def flops_per_image() -> float:
    """FLOPs of one forward and backward pass per image, counted by torch's FlopCounterMode
    (convolutions and matrix products; BatchNorm, ReLU and pooling are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    net = TremorCNN().to(memory_format=torch.channels_last)
    x = torch.rand(BATCH, 1, 64, 128).contiguous(memory_format=torch.channels_last)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(net(x), torch.zeros(BATCH, dtype=torch.long)).backward()
    return counter.get_total_flops() / BATCH


def peak_gflops() -> tuple[float, str]:
    """FP32 peak of this machine's cores: 2 FMA pipes x 8 floats (256 bit) x 2 FLOP per cycle
    per core (AMD Zen 3/4; Zen 4 runs AVX-512 as two 256-bit halves), at the clock the kernel
    reports. The 2 vCPUs may be SMT siblings of one physical core, which halves this."""
    mhz = float(cpu_fields().get("cpu MHz", 0.0))
    cores = os.cpu_count() or 1
    peak = cores * 32 * mhz / 1e3
    return peak, f"{cores} cores x 32 FLOP/cycle x {mhz / 1e3:.2f} GHz = {peak:.0f} GFLOP/s"


# (name, model.net.block_order, model.retain_freed_memory, model.compile, trainer.precision);
# the first is the step as it was before this work, the baseline of the ratios; make bench times
# the first three (QUICK_VARIANTS)
STEP_VARIANTS = (
    (
        "conv-BN-ReLU-pool, glibc's default malloc (previous step, baseline)",
        "pool_last",
        False,
        False,
        "32-true",
    ),
    ("conv-pool-BN-ReLU, freed memory retained (default)", "pool_first", True, False, "32-true"),
    ("the default + trainer.precision=bf16-mixed", "pool_first", True, False, "bf16-mixed"),
    ("conv-pool-BN-ReLU, glibc's default malloc", "pool_first", False, False, "32-true"),
    ("the default + model.compile=true", "pool_first", True, True, "32-true"),
)
QUICK_VARIANTS = 3


def step_rate(block_order: str, retain: bool, compile: bool, precision: str) -> float:
    """Images/s of the Lightning training step in this process (after one warm-up fit)."""
    module = make_module(NoPenalty(), block_order, compile, retain)
    lightning_fit(None, module=module, precision=precision)  # warm-up (and compilation)
    start = time.perf_counter()
    lightning_fit(None, module=module, precision=precision)
    return BATCH * STEPS / (time.perf_counter() - start)


def step_speed() -> list[str]:
    """Images/s of the training step per variant, each timed in a new process (the allocator
    setting is process-wide and cannot be undone), the variants interleaved over repeats."""
    root = Path(__file__).resolve().parent.parent
    variants = STEP_VARIANTS[:QUICK_VARIANTS] if QUICK else STEP_VARIANTS
    rates: dict[str, list[float]] = {name: [] for name, *_ in variants}
    for _ in range(SECTION_REPEATS):
        for name, *args in variants:
            code = f"from experiments.bench import step_rate; print(step_rate{tuple(args)!r})"
            run = subprocess.run(
                [sys.executable, "-c", code],
                cwd=root,
                env={**os.environ, "PYTHONPATH": str(root)},
                capture_output=True,
                text=True,
                check=True,
            )
            rates[name].append(float(run.stdout.strip().splitlines()[-1]))
    median = {name: statistics.median(r) for name, r in rates.items()}
    base = median[STEP_VARIANTS[0][0]]
    flops, (peak, how) = flops_per_image(), peak_gflops()
    rows = [
        "| step | images/s | speed-up | GFLOP/s | of peak |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, rate in median.items():
        gflops = rate * flops / 1e9
        rows.append(
            f"| {name} | {rate:.0f} | {rate / base:.2f}x | {gflops:.1f} | {gflops / peak:.0%} |"
        )
    rows += [
        "",
        f"FLOPs per image (forward + backward, conv and FC only, torch FlopCounterMode): "
        f"{flops / 1e6:.1f} M. Peak: {how}.",
    ]
    return rows if QUICK else [*rows, "", *compile_time()]


def compile_time() -> list[str]:
    """Seconds to the first compiled step in a new process: cold inductor cache, then warm."""
    code = (
        "import time; t = time.perf_counter(); import torch; "
        "from experiments.bench import make_module, lightning_fit; "
        "from rvsm.methods.penalties import L0; "
        "lightning_fit(None, module=make_module(L0(1e-5), compile=COMPILE)); "
        "print(time.perf_counter() - t)"
    )
    root = Path(__file__).resolve().parent.parent
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache, "PYTHONPATH": str(root)}
        for name, compile in (
            ("eager", False),
            ("compiled, cold cache", True),
            ("compiled, warm cache", True),
        ):
            run = subprocess.run(
                [sys.executable, "-c", code.replace("COMPILE", str(compile))],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            out[name] = float(run.stdout.strip().splitlines()[-1])
    return [
        f"{STEPS} steps in a new process (imports included): "
        + ", ".join(f"{k} {v:.1f} s" for k, v in out.items())
        + ". The inductor cache (TORCHINDUCTOR_CACHE_DIR, default /tmp/torchinductor_<user>) "
        "keeps compiled kernels across runs."
    ]


def sweep_throughput() -> list[str]:
    """The same 4 sweep jobs (100 steps each, default data, warm cache) run one at a time with 2
    torch threads, and as 2 parallel joblib jobs with 1 thread each."""
    root = Path(__file__).resolve().parent.parent
    jobs = [
        "-m",
        "seed=1,2,3,4",
        "data.seed=12345",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=100",
        "method.finetune_epochs=0",
    ]
    ways = {
        "1 job at a time x 2 threads (basic launcher)": ["threads=2"],
        "2 jobs at a time x 1 thread (joblib, n_jobs=2)": [
            "threads=1",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
        ],
    }
    rows = ["| 4 jobs | wall | ratio |", "| --- | --- | --- |"]
    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, args) in enumerate(ways.items()):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "rvsm.train", *jobs, *args, f"hydra.sweep.dir={tmp}/{i}"],
                cwd=root,
                check=True,
                capture_output=True,
            )
            walls[name] = time.perf_counter() - start
    base = next(iter(walls.values()))
    rows += [f"| {name} | {wall:.0f} s | {wall / base:.2f} |" for name, wall in walls.items()]
    return rows


# widths of the channel-pruned network timed beside dense (conv1, conv2, conv3): u's groups are
# zeroed by hand to these widths, those experiment=channels_gmp keeps on every seed
# (experiments/channels, where the trained runs are timed)
CHANNEL_WIDTHS = (4, 8, 16)


def channel_pruned(widths: tuple[int, int, int], size: list[int]) -> SparseModule:
    """The default CNN under group splitting of conv2, conv3 and FC, its u's input-channel groups
    zeroed by hand so that conv1, conv2 and conv3 keep ``widths`` channels."""
    from rvsm.methods.structure import channel_groups
    from rvsm.runtime.build import build_model
    from rvsm.runtime.checks import composed

    cfg, split = composed(["penalty=group_l0"]), ["conv2", "conv3", "fc"]
    pruned = build_model(cfg.model, cfg.method, split, size, cfg.penalty)
    for name, width in zip(split, widths, strict=True):  # conv2's groups: conv1's channels ...
        groups = channel_groups(pruned.layers[name].weight.detach(), pruned.layer_spec(name), "")
        groups[:, width:] = 0
        pruned.method.u(name).copy_(groups.reshape(pruned.method.u(name).shape))
    return pruned


def _exported_models(
    size: list[int],
) -> tuple[dict[str, torch.nn.Module], dict[str, int]]:
    """The exported networks timed: dense at full width (baseline), the default export (92% of
    the FC weights zero, stored as values + bit mask) and a channel-pruned one rebuilt at
    ``CHANNEL_WIDTHS`` (rvsm.slim), each as ``python -m rvsm.export`` writes it; and the default
    and the channel-pruned export without the inference levers (``standalone(levers=())``).
    With each network's FLOPs as trained (a fused block computes more, faster)."""
    from rvsm.export import script, standalone
    from rvsm.runtime.build import build_model
    from rvsm.runtime.checks import composed
    from rvsm.slim import flops

    cfg = composed()
    model = build_model(cfg.model, cfg.method, ["fc"], size, cfg.penalty)
    u = model.method.u("fc")
    keep = torch.rand(u.shape, generator=torch.Generator().manual_seed(0)) >= 0.92
    u.copy_(model.net.fc.weight.detach() * keep)
    pruned = channel_pruned(CHANNEL_WIDTHS, size)
    exports = {
        "dense": (model, {"compressed": False}),
        "sparse": (model, {}),
        "channels": (pruned, {}),
        "channels8": (pruned, {"multiple": 8}),
        "sparse_before": (model, {"levers": ()}),
        "channels_before": (pruned, {"levers": ()}),
    }
    nets = {n: script(standalone(m, **kw), size) for n, (m, kw) in exports.items()}
    counted = {
        n: flops(standalone(m, **{**kw, "levers": ()}), size) for n, (m, kw) in exports.items()
    }
    return nets, counted


# widths kept by the recorded runs of experiments/channels (conv1/conv2/conv3): the default
# export (one dead channel of conv3 removed), group lasso, filter pruning at 50% and 60%
ROUNDING_WIDTHS = ((8, 16, 31), (7, 3, 7), (8, 6, 13), (4, 8, 16), (3, 6, 13))
ROUNDING_MULTIPLES = (1, 4, 8, 16)
FULL = (8, 16, 32)  # the default CNN's widths


def export_rounding() -> list[str]:
    """Batch-256 latency of channel-pruned exports at the recorded runs' widths, each width
    rounded up to a multiple of 1, 4, 8 or 16 (rvsm.export's ``width_multiple``), against the
    full-width network in the same interleaved repeats: which rounding to default to."""
    from rvsm.export import script, standalone

    size, batch = [64, 128], 256
    nets = {"full": script(standalone(channel_pruned(FULL, size)), size)}
    for widths in ROUNDING_WIDTHS:
        pruned = channel_pruned(widths, size)
        for multiple in ROUNDING_MULTIPLES:
            run = [
                min(full, -(-w // multiple) * multiple)
                for w, full in zip(widths, FULL, strict=True)
            ]
            name = f"{'/'.join(map(str, widths))} | {multiple} | {'/'.join(map(str, run))}"
            nets[name] = script(standalone(pruned, multiple=multiple), size)
    x = torch.rand(batch, 1, *size)
    with torch.no_grad():
        t = interleaved({n: (lambda net=net: net(x)) for n, net in nets.items()}, 21)
    rows = [
        f"| widths kept | width_multiple | widths run | batch {batch} | speed-up over full |",
        "| --- | --- | --- | --- | --- |",
        f"| 8/16/32 (full) | - | 8/16/32 | {_ms(t['full'])} | 1.00 |",
    ]
    rows += [
        f"| {name} | {_ms(t[name])} | {t['full'] / t[name]:.2f} |"
        for name in nets
        if name != "full"
    ]
    fastest = []
    for widths in ROUNDING_WIDTHS:
        kept = "/".join(map(str, widths))
        best = min((n for n in nets if n.startswith(kept + " |")), key=lambda n: t[n])
        fastest.append(f"{kept}: {best.split(' | ')[1]} ({t['full'] / t[best]:.2f})")
    return [
        *rows,
        "",
        "Rounding keeps removable channels, so the logits are those of the unrounded network;",
        "8 and 16 give conv1, at full resolution, its pruned channels back. The fastest",
        f"multiple per width kept, in this run: {', '.join(fastest)}. conf/export_model.yaml's",
        "`width_multiple` (4) was chosen by this table before the inference levers existed.",
    ]


def inference_latency() -> list[str]:
    """CPU latency of the exported networks of ``_exported_models`` at batch 1 and 256, with
    their FLOPs; ratios against the dense network timed in the same interleaved repeats."""
    size = [64, 128]
    nets, counted = _exported_models(size)
    what = {
        "dense": "full width, stored dense (baseline)",
        "sparse": "default export: FC values + bit mask",
        "channels": f"channels pruned to {'/'.join(map(str, CHANNEL_WIDTHS))} (rvsm.slim)",
        "channels8": "the same, widths rounded up to 8 (`width_multiple=8`)",
        "sparse_before": "default export without the inference levers (`levers=()`)",
        "channels_before": "channels pruned, without the inference levers",
    }
    rows = []
    for batch, repeats in ((1, 201), (256, 21)):
        x = torch.rand(batch, 1, *size)
        with torch.no_grad():
            t = interleaved({n: (lambda net=net, x=x: net(x)) for n, net in nets.items()}, repeats)
        for name in nets:
            rows.append(
                f"| batch {batch}, {what[name]} | {counted[name] / counted['dense']:.3f} | "
                f"{_ms(t[name])} | {t[name] / t['dense']:.2f} | {t[name] / t['sparse']:.2f} |"
            )
    return [
        "| what | FLOPs / dense | time | ratio to dense | ratio to default export |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
        "The default export decompresses its FC weight (8,192 entries) in every forward pass and",
        "then multiplies densely: not faster, and the FC layer is a small part of the work (the",
        "convolutions dominate); its gain is the smaller file. The channel-pruned network is a",
        "smaller dense CNN: its convolutions shrink with the product of adjacent widths.",
        "The inference levers (rvsm.inference): BatchNorm folded into the convolutions, each",
        "conv narrower than 16 channels fused with its pooling, a pruned filter's fixed map",
        "added at its borders only (none here), the other 2x2 poolings as two elementwise",
        "maxima, slices of the batch that keep each feature map near 4 MiB; the `without` rows",
        "leave them out. FLOPs are the network's (a fused block computes more).",
        "",
        *export_profile(nets, size),
    ]


def export_profile(
    nets: dict[str, torch.nn.Module], size: list[int], batch: int = 256
) -> list[str]:
    """Where a forward pass at batch 256 spends its time: torch.profiler's self CPU time per
    operator of the dense and the channel-pruned exports, side by side."""
    from torch.profiler import ProfilerActivity, profile

    x, reps, per_op = torch.rand(batch, 1, *size), 5, {}
    for name in ("dense", "channels"):
        with torch.no_grad():
            nets[name](x)  # warm-up (TorchScript's profiling runs)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(reps):
                    nets[name](x)
        per_op[name] = {e.key: e.self_cpu_time_total / reps / 1e3 for e in prof.key_averages()}
    keys = sorted(
        set(per_op["dense"]) | set(per_op["channels"]), key=lambda k: -per_op["dense"].get(k, 0)
    )
    rows = [
        f"One forward pass at batch {batch} per operator (torch.profiler, {reps} passes):",
        "",
        "| operator | dense | channels pruned | ratio |",
        "| --- | --- | --- | --- |",
    ]
    for key in keys[:8]:
        d, c = per_op["dense"].get(key, 0.0), per_op["channels"].get(key, 0.0)
        rows.append(f"| `{key}` | {d:.2f} ms | {c:.2f} ms | {c / d if d else float('nan'):.2f} |")
    return rows


def gpu_steps() -> list[str]:
    if not torch.cuda.is_available():
        return ["No GPU on this machine: the GPU figure was not measured."]
    fits = {n: (lambda p=p: lightning_fit(p, "gpu")) for n, p in PENALTIES.items()}
    t = interleaved(fits, REPEATS)
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
                "method.finetune_epochs=0",
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
    # the defaults' promise (issue on dependable sparsity): >= 0.99 with >= 90% FC zeros
    met = m["test/acc"] >= 0.99 and m["test/sparsity_fc"] >= 0.90
    parts = {k: m[f"time/{k}_s"] for k in ("train", "val", "test")}
    rest = wall - parts["train"] - parts["val"] - parts["test"]
    return [
        "| what | time | share |",
        "| --- | --- | --- |",
        f"| whole command, warm cache (target <= 90 s) | {wall:.0f} s | 100% |",
        *(f"| {k} | {v:.0f} s | {v / wall:.0%} |" for k, v in parts.items()),
        f"| the rest: start-up, imports, reading the cache, checkpoints | {rest:.0f} s "
        f"| {rest / wall:.0%} |",
        "",
        f"Result: test/acc {m['test/acc']:.4f}, test/sparsity_fc {m['test/sparsity_fc']:.4f} "
        f"after {m['epochs']} epochs: headline {'met' if met else 'NOT met'}.",
    ]


SECTION_WALLS: dict[str, float] = {}


def timed(section: Callable[[], list[str]]) -> list[str]:
    """A section's rows, its wall time kept for the page's footer (the bench's own budget)."""
    start = time.perf_counter()
    rows = section()
    SECTION_WALLS[section.__name__] = time.perf_counter() - start
    return rows


def main() -> None:
    torch.manual_seed(0)
    head = "| what | time | ratio | target |\n| --- | --- | --- | --- |"
    cpu = cpu_name()
    quick = [
        f"## Training step speed (batch {BATCH}, 64x128, {STEPS} steps a repeat, penalty none)",
        "",
        *timed(step_speed),
        "",
        "## Where the step's time goes (torch.profiler) and which limit binds",
        "",
        *timed(step_profile),
        "",
        f"## Splitting overhead (batch {BATCH}, 64x128, {STEPS} steps a repeat, "
        f"{SECTION_REPEATS} repeats)",
        "",
        head,
        *timed(step_overhead),
        "",
        "## Sweep throughput on 2 cores (4 jobs of 100 training steps each)",
        "",
        *timed(sweep_throughput),
        "",
        "## Inference latency of the exported model (`python -m rvsm.export`), CPU",
        "",
        *timed(inference_latency),
        "",
        "## Rounding the kept widths of a channel-pruned export (`width_multiple`)",
        "",
        *timed(export_rounding),
    ]
    full = (
        []
        if QUICK
        else [  # the full bench's sections, run only there
            "",
            "## Thresholding, 10M float32 elements (9 repeats)",
            "",
            head,
            *timed(prox_speed),
            "",
            "Targets: a ratio above its target is a miss. The step ratios move by about +-5%",
            "between invocations on this VM (interleaving the repeats evens out drift, not noise).",
            "",
            "## Time to the headline: the default run (`make train`) from a warm data cache",
            "",
            *timed(time_to_headline),
            "",
            "## GPU",
            "",
            *timed(gpu_steps),
        ]
    )
    parts = [
        "# Benchmarks",
        "",
        f"Machine: {cpu}, {os.cpu_count()} cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Regenerate with "
        f"`make bench` (the quick sections) or `make bench-full` (all); this is "
        f"{'the quick bench' if QUICK else 'the full bench'}. Medians of interleaved repeats "
        "after a warm-up.",
        "",
        *quick,
        *full,
        "",
        f"This bench ran in {sum(SECTION_WALLS.values()):.0f} s: "
        + ", ".join(f"{name} {wall:.0f} s" for name, wall in SECTION_WALLS.items())
        + ".",
        "",
    ]
    text = "\n".join(parts)
    print(text)
    Path(__file__).with_name("benchmarks.md").write_text(text)


if __name__ == "__main__":
    main()
