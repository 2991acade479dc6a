"""The search against the recorded RVSM grid on the same data and axes (see README.md here).

    .venv/bin/python experiments/search/against_grid.py <search folder> <grid results.md> \\
        --data "mixed, severity 1" --out experiments/search/default

The search's trials are its job folders (``metrics.json``, in trial order); the grid's runs are
the per-seed rows of a report's ``results.md`` (``rvsm.report``) for RVSM's l0 and Tl1 settings
on that data, in the grid's order (l0 then Tl1, lambda ascending). Both are scored on validation
accuracy and validation FC sparsity, both maximised, by the hypervolume from
``REFERENCE`` (the search's ``hydra.sweeper.reference_point``) after each run: the search in
trial order, the grid's seed-1 runs (the search trains seed 1 only) and the full grid with its
three seeds counted as runs. Test numbers are shown beside, never used to choose. Writes
``<out>/against_grid.md`` and ``<out>/against_grid.png``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rvsm.reporting import stats  # noqa: E402
from rvsm.reporting.collect import collect  # noqa: E402
from rvsm.utils.io import atomic_open  # noqa: E402

# (validation accuracy, validation FC sparsity): chance, no zeros; conf/hydra/sweeper/pareto.yaml's
# reference_point, which the search's own hypervolume.png uses
REFERENCE = (0.5, 0.0)


def hypervolume(points: list[tuple[float, float]]) -> float:
    """Area dominated by ``points`` (accuracy, sparsity; both maximised) above ``REFERENCE``."""
    return stats.hypervolume(points, REFERENCE)


def inside(p: tuple[float, float]) -> bool:
    """Better than ``REFERENCE`` in both (a run at chance accuracy is on no front)."""
    return p[0] > REFERENCE[0] and p[1] > REFERENCE[1]


def front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points above the reference that no other point dominates (a point that
    dominates one above the reference is above it too)."""
    return [i for i in stats.on_front(points) if inside(points[i])]


def search_runs(folder: Path) -> list[dict]:
    """The search's trials in order; a failed or diverged trial keeps its place, with no point."""
    done, other = collect(folder)
    runs = [(r, True) for r in done] + [(r, False) for r in other]
    runs.sort(key=lambda pair: int(Path(pair[0]["dir"]).name))
    return [
        {
            "name": f"trial {Path(r['dir']).name}",
            "point": (r["val/acc"], r["val/sparsity_fc"]) if ok else None,
            "test": (r.get("test/acc"), r.get("test/sparsity_fc")),
            "fit_s": r.get("time/fit_s") or 0.0,
        }
        for r, ok in runs
    ]


def grid_runs(results_md: Path, data: str) -> list[dict]:
    """The RVSM l0 and Tl1 rows of a report's per-seed table on ``data``, in the grid's order."""
    text = results_md.read_text().split("## Runs", 1)[1]
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    runs = []
    for line in lines[2:]:
        row = dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
        match = re.fullmatch(r"rvsm (l0|tl1) lam=(\S+)( a=\S+)?", row["setting"])
        if row["data"] != data or not match:
            continue
        runs.append(
            {
                "name": row["setting"],
                "order": (match.group(1) != "l0", float(match.group(2)), int(row["seed"])),
                "point": (float(row["val acc"]), float(row["val FC sparsity"])),
                "test": (float(row["test acc"]), float(row["test FC sparsity"])),
                "fit_s": float(row["fit s"]),
                "seed": int(row["seed"]),
            }
        )
    return sorted(runs, key=lambda r: r["order"])


def history(runs: list[dict]) -> list[float]:
    """The hypervolume after each run."""
    points, out = [], []
    for r in runs:
        if r["point"] is not None:
            points.append(r["point"])
        out.append(hypervolume(points))
    return out


def front_table(title: str, runs: list[dict]) -> list[str]:
    scored = [r for r in runs if r["point"] is not None]
    best = sorted(
        (scored[i] for i in front([r["point"] for r in scored])), key=lambda r: -r["point"][1]
    )
    lines = [f"**{title}** ({len(best)} on the validation front)", ""]
    lines += [
        "| run | val acc | val FC sparsity | test acc | test FC sparsity |",
        "|" + " --- |" * 5,
    ]
    for r in best:
        lines.append(
            f"| {r['name']} | {r['point'][0]:.4f} | {r['point'][1]:.4f} | {r['test'][0]:.4f} "
            f"| {r['test'][1]:.4f} |"
        )
    return [*lines, ""]


def report(search: list[dict], grid: list[dict], data: str, out: Path) -> None:
    seed1 = [r for r in grid if r["seed"] == 1]
    curves = {"search": search, "grid, seed 1": seed1, "grid, 3 seeds": grid}
    hv = {name: history(runs) for name, runs in curves.items()}
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# The search against the grid, {data}",
        "",
        f"Hypervolume of (validation accuracy, validation FC sparsity) from {REFERENCE}, "
        "after n runs (the search in trial order, the grid in its order); compute is the sum of "
        "the runs' fit seconds.",
        "",
        "| runs | " + " | ".join(curves) + " |",
        "|" + " --- |" * (len(curves) + 1),
    ]
    for n in sorted({5, 9, 10, 20, 27, 30, *(len(r) for r in curves.values())}):
        cells = [f"{h[n - 1]:.4f}" if n <= len(h) else "" for h in hv.values()]
        if any(cells):
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines.append(
        "| fit s | "
        + " | ".join(f"{sum(r['fit_s'] for r in runs):.0f}" for runs in curves.values())
        + " |"
    )
    failed = sum(r["point"] is None for r in search)
    lines += ["", f"Search trials without a result (failed or diverged): {failed}.", ""]
    lines += front_table("The search's front", search) + front_table(
        "The grid's seed-1 front", seed1
    )
    with atomic_open(out / "against_grid.md", "w") as f:
        f.write("\n".join(lines))

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    fronts = []
    for name, runs, style in (("search", search, "o"), ("grid, seed 1", seed1, "s")):
        pts = [r["point"] for r in runs if r["point"] is not None]
        line = left.plot([p[1] for p in pts], [p[0] for p in pts], style, alpha=0.35, label=name)
        best = sorted((pts[i] for i in front(pts)), key=lambda p: p[1])
        fronts += [p[0] for p in best]
        left.plot(
            [p[1] for p in best], [p[0] for p in best], "-" + style, color=line[0].get_color()
        )
    # the fronts in view; runs far below are off it
    left.set_ylim(min(fronts, default=REFERENCE[0] + 0.01) - 0.01, 1.0)
    left.set_xlabel("val/sparsity_fc")
    left.set_ylabel("val/acc")
    left.set_title("validation: all runs and each front", fontsize=9)
    left.legend(fontsize=8, loc="lower left")
    for name, h in hv.items():
        right.plot(range(1, len(h) + 1), h, "-o", markersize=3, label=name)
    right.set_xlabel("runs")
    right.set_ylabel(f"hypervolume from {REFERENCE}")
    right.set_title("hypervolume after n runs", fontsize=9)
    right.legend(fontsize=8, loc="lower right")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.suptitle(data, fontsize=10)
    fig.tight_layout()
    with atomic_open(out / "against_grid.png", "wb") as f:
        fig.savefig(f, format="png", dpi=120)
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("search", type=Path)
    parser.add_argument("grid", type=Path)
    parser.add_argument("--data", required=True, help='e.g. "mixed, severity 1"')
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    grid = grid_runs(args.grid, args.data)
    if not grid:
        parser.error(f"no RVSM l0/Tl1 runs on {args.data!r} in {args.grid}")
    report(search_runs(args.search), grid, args.data, args.out)


if __name__ == "__main__":
    main()
