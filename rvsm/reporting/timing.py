"""Timing by interleaved repeats: every configuration runs once per repeat, in an order shuffled
anew each repeat, so a drift in the machine's speed hits all of them alike and none always runs
after the same neighbour (a large one leaves the caches cold for whatever follows it: in a fixed
order two identical files timed 6% apart); the median of each is reported."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable


def interleaved(
    fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1, seed: int = 0
) -> dict[str, float]:
    """Median seconds of each function, one call of each per repeat in a shuffled order (a
    generator seeded with ``seed``, so the orders are the same run to run)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    order, rng = list(fns), random.Random(seed)
    for _ in range(repeats):
        rng.shuffle(order)
        for name in order:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def duration_text(seconds: float) -> str:
    """A measured time as tables show it: milliseconds from 1 ms up, microseconds below."""
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} us"
