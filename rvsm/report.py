"""``python -m rvsm.report <folder> [--out <stem>]``: the report of every run under a folder.

Prints the Markdown report and writes ``<stem>.md``, ``<stem>.csv`` (one row per setting: mean
+- std over seeds) and the PNG plots of ``rvsm.reporting.plots``; ``<stem>`` defaults to
``<folder>/report``. Runs that did not finish (diverged, crashed, stopped, or killed before
writing ``metrics.json``) are listed with their status, never dropped silently; a folder with no
run under it is refused, nothing written. Settings are
ranked, and Pareto fronts of accuracy vs FC sparsity chosen, on the validation numbers
(``rvsm.reporting.stats``); test numbers are shown beside them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rvsm.reporting.collect import collect
from rvsm.reporting.stats import aggregate, pareto_front
from rvsm.reporting.tables import as_csv, markdown
from rvsm.utils.io import atomic_open

__all__ = ["main", "pareto_front"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rvsm.report", description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument(
        "--out", type=Path, help="stem of the files written (default: <folder>/report)"
    )
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"rvsm: error: {args.folder} is not a folder", file=sys.stderr)
        return 2
    runs, other = collect(args.folder)
    if not runs and not other:
        print(
            f"rvsm: error: {args.folder} holds no runs (no run folder, no metrics.json under it):"
            " pass the folder of a run or of a sweep, e.g. logs/train/multiruns/<date>",
            file=sys.stderr,
        )
        return 2
    settings = aggregate(runs)
    stem = args.out or args.folder / "report"
    text = markdown(settings, runs, other, stem.parent, args.folder)
    print(text, end="")
    with atomic_open(stem.with_name(stem.name + ".md"), "w") as f:
        f.write(text)
    with atomic_open(stem.with_name(stem.name + ".csv"), "w") as f:
        f.write(as_csv(settings))
    from rvsm.reporting.plots import write_plots  # matplotlib only when plotting

    for path in write_plots(settings, runs, stem):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
