"""The scripts beside the recordings (experiments/*/*.py): their numbers against computations made
here, so a recorded table cannot rest on a wrong formula."""

from __future__ import annotations

import importlib.util
import random

import pytest

from tests.helpers import ROOT


def load(relative: str):
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(f"experiment_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


against_grid = load("experiments/search/against_grid.py")


def staircase_area(points, ref):
    """The dominated area, slice by slice between the sparsities the points have: on each slice
    the best accuracy among the points at least that sparse."""
    cuts = sorted({ref[1], *(s for _, s in points if s > ref[1])})
    area = 0.0
    for lo, hi in zip(cuts, cuts[1:], strict=False):
        best = max([a for a, s in points if s >= hi] + [ref[0]])
        area += (hi - lo) * max(best - ref[0], 0.0)
    return area


def test_hypervolume_and_front_against_a_slice_by_slice_area_and_pairwise_dominance():
    rng = random.Random(0)
    for _ in range(50):
        points = [(rng.uniform(0.3, 1.0), rng.uniform(-0.1, 1.0)) for _ in range(rng.randint(1, 9))]
        expected = staircase_area(points, against_grid.REFERENCE)
        assert abs(against_grid.hypervolume(points) - expected) < 1e-12
        kept = set(against_grid.front(points))
        for i, (a, s) in enumerate(points):
            dominated = any(b >= a and t >= s and (b, t) != (a, s) for b, t in points)
            above = a > 0.5 and s > 0.0
            assert (i in kept) == (above and not dominated)


def test_grid_runs_reads_the_rvsm_rows_of_one_data_setting_in_the_grid_order(tmp_path):
    columns = (
        "run | data | setting | seed | val acc | val FC sparsity | test acc | test FC sparsity"
    )
    rows = [
        "a/0 | mixed, severity 1 | rvsm tl1 lam=9e-06 a=0.01 | 1 | 0.99 | 0.8 | 0.98 | 0.8",
        "a/1 | mixed, severity 1 | rvsm l0 lam=2.5e-05 | 2 | 0.97 | 0.9 | 0.96 | 0.9",
        "a/2 | mixed, severity 1 | rvsm l0 lam=5e-06 | 1 | 0.995 | 0.7 | 0.99 | 0.7",
        "a/3 | mixed, severity 0.35 | rvsm l0 lam=5e-06 | 1 | 0.9 | 0.7 | 0.9 | 0.7",
        "a/4 | mixed, severity 1 | gmp sparsity_target=0.9 | 1 | 0.99 | 0.9 | 0.99 | 0.9",
    ]
    table = [f"| {columns} | fit s |", "|" + " --- |" * 9]
    table += [f"| {row} | {10 + i} |" for i, row in enumerate(rows)]
    path = tmp_path / "results.md"
    path.write_text("## Settings\n\n| x |\n\n## Runs (one per seed)\n\n" + "\n".join(table) + "\n")
    runs = against_grid.grid_runs(path, "mixed, severity 1")
    assert [r["name"] for r in runs] == [
        "rvsm l0 lam=5e-06",
        "rvsm l0 lam=2.5e-05",
        "rvsm tl1 lam=9e-06 a=0.01",
    ]
    assert runs[0]["point"] == (0.995, 0.7) and runs[0]["test"] == (0.99, 0.7)
    assert [r["seed"] for r in runs] == [1, 2, 1] and runs[0]["fit_s"] == 12.0


latency = load("experiments/channels/latency.py")


def _run(name: str, seed: int, acc: float, flops: float) -> dict:
    return {
        "run": name,
        "method": "rvsm",
        "main_knobs": ["penalty", "lam", "a"],  # a knob of another penalty: None, not shown
        "penalty": "group_l1",
        "a": None,
        "lam": 0.0075,
        "split_layers": ["conv2", "conv3"],
        "seed": seed,
        "data": "mixed",
        "severity": None,
        "test/acc": acc,
        "test/flops_fraction": flops,
        **{f"test/channels_conv{i}": 4 * i for i in (1, 2, 3)},
    }


def test_latency_speed_ups_are_the_baselines_time_over_the_runs_and_targets_count_per_seed():
    rows = [
        _run("a/0", 1, 0.995, 0.25),  # meets all three targets at 2.5x
        _run("a/1", 2, 0.985, 0.25),  # accuracy below 0.99
        _run("a/2", 3, 0.992, 0.34),  # FLOPs above a third
    ]
    times = {
        1: {"baseline": 6e-4, "a/0": 3e-4, "a/1": 4e-4, "a/2": 5e-4},
        256: {"baseline": 0.05, "a/0": 0.02, "a/1": 0.02, "a/2": 0.01},
    }
    # three processes: the second 1.5x slower throughout, the third 0.9x but a/0 as slow as the
    # baseline at 256: a speed-up is the median of the per-process ratios (2.5, not the 1.67 of
    # the medians' ratio), a time the median over processes
    timings = [
        {b: {k: v * scale for k, v in t.items()} for b, t in times.items()}
        for scale in (1, 1.5, 0.9)
    ]
    timings[2][256]["a/0"] = timings[2][256]["baseline"]
    text = latency.report(rows, timings, latency.Path("base.pt"))
    for row in rows:
        for batch in (1, 256):
            assert row[f"speedup_{batch}"] == pytest.approx(
                times[batch]["baseline"] / times[batch][row["run"]]
            )
    assert "| 0.9950 | 4/8/12 | 0.250 | 300 us | 2.00 | 30.00 ms | 2.50 |" in text
    assert "(per process: 50.00 ms, 75.00 ms, 45.00 ms)" in text
    assert "\n| a | mixed" in text  # the folder of the exports, in rows and in the summary
    assert "| group_l1 |" not in text  # the setting is one label, not a column per knob
    assert "rvsm, penalty group_l1, lam 0.0075, layers conv2,conv3 | 3 |" in text
    assert text.rstrip().endswith("| 1 of 3 |")
    speedups = [2.5, 2.5, 5.0]
    mean, std = sum(speedups) / 3, (sum((s - 10 / 3) ** 2 for s in speedups) / 2) ** 0.5
    assert f"| {mean:.2f} +- {std:.2f} | 1 of 3 |" in text


def test_latency_times_every_exported_run_found_beside_its_metrics(tmp_path):
    net = latency.torch.jit.trace(latency.torch.nn.Conv2d(1, 2, 3), latency.torch.zeros(1, 1, 8, 8))
    for name, with_metrics in (("x/0", True), ("x/1", False), ("y/0", True)):
        folder = tmp_path / name
        folder.mkdir(parents=True)
        latency.torch.jit.save(net, str(folder / "model.pt"))
        if with_metrics:
            (folder / "metrics.json").write_text('{"seed": 1}')
    found = latency.runs(tmp_path)
    assert [m["run"] for m in found] == ["x/0", "y/0"]
    times = latency.time_all({m["run"]: m["model"] for m in found}, (8, 8))
    assert set(times) == {1, 256}
    assert all(set(t) == {"x/0", "y/0"} and min(t.values()) > 0 for t in times.values())


def test_interleaved_timing_calls_each_once_a_repeat_in_shuffled_orders():
    """Every function once per repeat (after its warm-up call), the orders differing between
    repeats but the same for the same seed; the medians are of each function's own calls."""
    from rvsm.reporting.timing import interleaved

    def run(seed: int) -> tuple[list[str], dict[str, float]]:
        calls: list[str] = []
        fns = {name: (lambda name=name: calls.append(name)) for name in "abcde"}
        return calls, interleaved(fns, repeats=8, seed=seed)

    calls, medians = run(0)
    assert calls[:5] == list("abcde")  # the warm-up, in order
    rounds = [calls[5 + 5 * k : 10 + 5 * k] for k in range(8)]
    assert all(sorted(r) == list("abcde") for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1
    assert run(0)[0] == calls and run(1)[0] != calls
    assert set(medians) == set("abcde") and all(t >= 0 for t in medians.values())


def test_lever_ratios_are_per_process_medians_of_the_variants_time_over_every_levers():
    """The default network and two filter-pruned ones; a variant k-th in the table takes k times
    every lever's time (gmp/1 twice gmp/0's); the second process is 2x slower throughout, the
    third 4x except "without slices" on gmp/1, as fast as every lever there. A ratio is the
    median of the per-process ratios (of the pruned networks' mean time), not the ratio of the
    median times, which would give 16 / 3 here."""
    levers = load("experiments/channels/levers.py")
    names = list(levers.variants())
    assert names[0] == levers.ALL and names[-1] == levers.NONE
    assert len(names) == len(levers.LEVERS) + 2
    nets = ("default", "gmp/0", "gmp/1")
    one = {
        batch: {
            f"{v}|{n}": (k + 1) * 1e-3 * (2 if n == "gmp/1" else 1)
            for k, v in enumerate(names)
            for n in nets
        }
        for batch in (1, 256)
    }
    timings = [{b: {key: f * t for key, t in one[b].items()} for b in one} for f in (1, 2, 4)]
    timings[2][256]["without slices|gmp/1"] = timings[2][256][f"{levers.ALL}|gmp/1"]
    text = levers.report(timings, list(nets))
    k = names.index("without slices") + 1
    assert k == 6  # the numbers below are worked for it
    # default: 6, 12, 24 ms (median 12), ratio 6 in each process; pruned: the mean of gmp/0 and
    # gmp/1, 9, 18, 16 ms (median 16) against 1.5, 3, 6 ms: ratios 6, 6, 8 / 3, median 6
    assert "| without slices | 12.00 ms | 6.00 | 12.00 ms | 6.00 | 16.00 ms | 6.00 |" in text
    assert f"| {levers.ALL} | 2.00 ms | 1.00 | 2.00 ms | 1.00 | 3.00 ms | 1.00 |" in text
