"""Benchmark: synthesizer speed, images per second on one core, per data kind, at the default size.

``.venv/bin/python experiments/bench_data.py [--repeats 5] [--pairs 100]`` prints a Markdown table
and writes it to experiments/bench_data.md. One process, after a warm-up (fonts loaded); the
median of the repeats is reported. The ratio against "render only" (the same pairs drawn once
each, no tremor and no ink matching) shows what tremor and ink matching cost.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from rvsm.data import cache
from rvsm.data.datamodule import TremorTextDataModule
from rvsm.data.render import render
from rvsm.data.synth import KINDS, SynthSettings, render_pair, sample_scene

ROOT = Path(__file__).resolve().parent.parent


def time_pairs(settings: SynthSettings, pairs: int, first: int) -> float:
    start = time.perf_counter()
    for i in range(first, first + pairs):
        render_pair(settings, 0, "train", i)
    return 2 * pairs / (time.perf_counter() - start)


def time_plain(settings: SynthSettings, pairs: int, first: int) -> float:
    """Baseline: the same scenes, each drawn twice plainly (what two regular images cost)."""
    start = time.perf_counter()
    for i in range(first, first + pairs):
        scene = sample_scene(np.random.default_rng([0, 0, i, 0]), settings, "train")
        size, ss = settings.image_size, settings.supersample
        for _ in range(2):
            render(scene.paths, scene.filled, scene.width, size, ss)
    return 2 * pairs / (time.perf_counter() - start)


def cache_hit(repeats: int = 5) -> str:
    """Wall time to read and checksum the default data set (as ``make train`` does)."""
    conf = OmegaConf.load(ROOT / "conf" / "data" / "mixed.yaml")
    cache_dir = os.environ.get("RVSM_CACHE_DIR", ROOT / ".cache" / "data")
    dm = TremorTextDataModule(
        synth=OmegaConf.to_container(conf.synth),
        n_pairs=conf.n_pairs,
        seed=12345,
        cache_dir=cache_dir,
    )
    if not dm.cache_path.is_file():
        return f"Cache hit: not measured, no default cache at {dm.cache_path} (run make train)."
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        arrays = cache.load(dm.cache_path)
        times.append(time.perf_counter() - start)
    n = len(arrays["labels"])
    return (
        f"Cache hit (default data, {n} images, {dm.cache_path.stat().st_size / 1e6:.0f} MB, "
        f"read and checksummed): median {statistics.median(times):.2f} s of {repeats}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=100)
    args = parser.parse_args()
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; one process; median of {args.repeats} runs of "
        f"{args.pairs} pairs after a warm-up.",
        "",
        "| kind | images/s/core (pairs) | images/s/core (plain render) | ratio |",
        "| --- | --- | --- | --- |",
    ]
    for kind in KINDS:
        settings = SynthSettings(kind=kind)
        time_pairs(settings, 10, 10_000)  # warm-up: fonts loaded and cached
        full = [time_pairs(settings, args.pairs, r * args.pairs) for r in range(args.repeats)]
        plain = [time_plain(settings, args.pairs, r * args.pairs) for r in range(args.repeats)]
        f, p = statistics.median(full), statistics.median(plain)
        lines.append(f"| {kind} | {f:.0f} | {p:.0f} | {f / p:.2f} |")
    lines += ["", cache_hit()]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(__file__).with_name("bench_data.md").write_text(text)


if __name__ == "__main__":
    main()
