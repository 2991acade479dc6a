"""Collect the ``metrics.json`` of runs under a folder into one table (Markdown and CSV).

``python -m rvsm.report <folder> [--out <stem>]`` prints the Markdown table; with ``--out`` it also
writes ``<stem>.md`` and ``<stem>.csv``. Runs that have no ``metrics.json`` (failed or unfinished)
are listed below the table, not dropped silently.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from rvsm.io import atomic_open

COLUMNS = (
    ("run", "run"),
    ("data", "data"),
    ("penalty", "penalty"),
    ("lam", "lam"),
    ("beta", "beta"),
    ("a", "a"),
    ("layers", "split_layers"),
    ("seed", "seed"),
    ("test acc", "test/acc"),
    ("test acc dense", "test/acc_dense"),
    ("FC sparsity", "test/sparsity_fc"),
    ("fit s", "time/fit_s"),
)


def collect(root: Path) -> tuple[list[dict], list[Path]]:
    """Metrics of each run under ``root`` (a folder holding ``.hydra/``), and the failed runs."""
    rows, missing = [], []
    for hydra_dir in sorted(root.rglob(".hydra")):
        run = hydra_dir.parent
        path = run / "metrics.json"
        if path.is_file():
            rows.append({"run": str(run.relative_to(root)) or ".", **json.loads(path.read_text())})
        else:
            missing.append(run)
    return rows, missing


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != 0 and abs(value) < 0.01:
            return f"{value:.2g}"
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.0f}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def markdown(rows: list[dict]) -> str:
    lines = [
        "| " + " | ".join(title for title, _ in COLUMNS) + " |",
        "|" + " --- |" * len(COLUMNS),
    ]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(key)) for _, key in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def as_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([key for _, key in COLUMNS])
    for row in rows:
        writer.writerow([_fmt(row.get(key)) for _, key in COLUMNS])
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rvsm.report", description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, help="write <out>.md and <out>.csv as well")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"rvsm: error: {args.folder} is not a folder", file=sys.stderr)
        return 2
    rows, missing = collect(args.folder)
    text = markdown(rows)
    if missing:
        text += "\nRuns without metrics.json (failed or unfinished): "
        text += ", ".join(str(m.relative_to(args.folder)) for m in missing) + "\n"
    print(text, end="")
    if args.out:
        with atomic_open(args.out.with_suffix(".md"), "w") as f:
            f.write(text)
        with atomic_open(args.out.with_suffix(".csv"), "w") as f:
            f.write(as_csv(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
