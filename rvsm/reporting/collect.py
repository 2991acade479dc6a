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


def _saved_config(run: Path) -> dict:
    """The config Hydra saved for a run (empty if unreadable)."""
    try:
        cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


def _data_of(cfg: dict) -> dict:
    """The data setting of a run whose metrics.json predates ``severity`` in it, from its saved
    config (empty if it has none)."""
    try:
        return describe_data(cfg["data"])
    except (KeyError, TypeError):
        return {}


def _budget_of(cfg: dict) -> dict:
    """``batch_size`` and ``precision`` of a run whose metrics.json predates them, from its saved
    config: literal values then (Lightning's default precision where the trainer names none)."""
    trainer, data = cfg.get("trainer") or {}, cfg.get("data") or {}
    found = {"batch_size": data.get("batch_size"), "precision": trainer.get("precision", "32-true")}
    return {k: v for k, v in found.items() if v is not None}


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
        if "severity" not in metrics or "precision" not in metrics:
            cfg = _saved_config(run)
            metrics.setdefault("severity", _data_of(cfg).get("severity"))
            metrics.update({k: v for k, v in _budget_of(cfg).items() if k not in metrics})
        (done if metrics.get("status", "ok") == "ok" else other).append(metrics)
    return done, other
