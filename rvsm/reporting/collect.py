"""Find the runs under a folder: every run folder (one holding ``.hydra/``) with its
``metrics.json``, finished or not."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from rvsm.data import describe_data


def _natural(path: Path) -> list:
    """Sort key that puts job 2 before job 10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def _data_of(run: Path) -> dict:
    """The data setting of a run whose metrics.json predates ``severity`` in it, from the config
    Hydra saved (empty if unreadable)."""
    try:
        cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
        return describe_data(cfg["data"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return {}


def collect(root: Path) -> tuple[list[dict], list[dict]]:
    """Finished runs (status ok) and the others, for each run folder (one holding ``.hydra/``)."""
    done, other = [], []
    for hydra_dir in sorted(root.rglob(".hydra"), key=_natural):
        run = hydra_dir.parent
        name = str(run.relative_to(root)) or "."
        path = run / "metrics.json"
        if not path.is_file():
            other.append({"run": name, "dir": run, "status": "no metrics.json (killed or running)"})
            continue
        metrics = {"run": name, "dir": run, **json.loads(path.read_text())}
        metrics.setdefault("method", "rvsm")  # runs from before the method group were RVSM
        if "severity" not in metrics:
            metrics["severity"] = _data_of(run).get("severity")
        (done if metrics.get("status", "ok") == "ok" else other).append(metrics)
    return done, other
