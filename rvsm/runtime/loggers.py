"""Loggers and callbacks from config, and the W&B run a run folder logs into."""

from __future__ import annotations

import secrets
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig

from rvsm.utils.io import atomic_open


def instantiate_all(node: DictConfig | None, extra: dict[str, dict] | None = None) -> list:
    """Instantiate each ``_target_`` entry of a group such as ``logger`` or ``callbacks``, with
    ``extra[name]`` as further keyword arguments of the entry ``name``."""
    if not node:
        return []
    return [
        instantiate(v, **(extra or {}).get(k, {}))
        for k, v in node.items()
        if isinstance(v, DictConfig) and "_target_" in v
    ]


def wandb_run(output_dir: Path, resuming: bool) -> dict:
    """The W&B run of this run folder: a resumed run logs into the run it started, a new one
    gets a new id (kept in ``<run dir>/wandb_id`` for the next resume)."""
    id_file = output_dir / "wandb_id"
    if resuming and id_file.is_file():
        run_id = id_file.read_text().strip()
    else:
        run_id = secrets.token_hex(8)
        with atomic_open(id_file, "w") as f:
            f.write(run_id + "\n")
    return {"id": run_id, "resume": "allow"}


def wandb_loggers(loggers: list) -> list:
    """The W&B loggers among a trainer's (by class name: wandb is imported only when used)."""
    return [lg for lg in loggers if type(lg).__name__ == "WandbLogger"]
