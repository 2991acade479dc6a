"""Checkpoints: written atomically, and found and checked before a resumed run starts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from omegaconf import OmegaConf

from rvsm.runtime.checks import ConfigError
from rvsm.runtime.io import atomic_open

# What a Lightning checkpoint needs to resume the whole state (weights and u buffers, optimizer
# and scheduler, loop position).
REQUIRED_KEYS = ("state_dict", "optimizer_states", "lr_schedulers", "loops", "epoch")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, but never leaves a half-written file under the final name.

    Lightning stages the bytes in the system temp folder and moves them over, which is a copy
    (not a rename) when that folder is on another file system, so a kill mid-copy truncates
    ``last.ckpt``. Here the bytes go to a temp file beside the target, fsync'd, then renamed.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        with atomic_open(path, "wb") as f:
            torch.save(checkpoint, f)


def resume_point(cfg, output_dir: Path) -> str | None:
    """``cfg.ckpt_path``, or ``last`` when ``auto_resume`` is on and the run folder holds a run
    that was preempted (a requeued cluster job lands in the folder it left)."""
    if cfg.get("ckpt_path") is not None or not cfg.get("auto_resume"):
        return cfg.get("ckpt_path")
    try:
        status = json.loads((output_dir / "metrics.json").read_text()).get("status")
    except (OSError, ValueError):
        return None
    last = output_dir / "checkpoints" / "last.ckpt"
    return "last" if status == "preempted" and last.is_file() else None


def config_hash(cfg) -> str:
    """A digest of the run's resolved settings, ``skip_finished`` aside: one digest, one run."""
    settings = OmegaConf.to_container(cfg, resolve=True)
    settings.pop("skip_finished", None)
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def finished_objective(cfg, output_dir: Path) -> float | None:
    """With ``skip_finished``, the objective of the run already finished in ``output_dir`` when
    it was this run (status ok, the same ``config_hash``); otherwise None: train."""
    if not cfg.get("skip_finished"):
        return None
    try:
        metrics = json.loads((output_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    if metrics.get("status") != "ok" or metrics.get("config_hash") != config_hash(cfg):
        return None
    return float(metrics["objective"])


def resolve_checkpoint(ckpt_path: str | None, output_dir: Path) -> str | None:
    """The checkpoint file a run resumes from, checked to be readable and complete.

    ``last`` means ``<output_dir>/checkpoints/last.ckpt``: re-run a command with
    ``hydra.run.dir=<folder of the interrupted run> ckpt_path=last`` to continue it.
    """
    if ckpt_path is None:
        return None
    path = checkpoint_path(ckpt_path, output_dir)
    read_checkpoint(path)
    return str(path)


def checkpoint_path(ckpt_path: str, output_dir: Path) -> Path:
    """The file ``ckpt_path`` names (``last``: the run folder's last.ckpt), which must exist."""
    if str(ckpt_path) == "last":
        path = output_dir / "checkpoints" / "last.ckpt"
        if not path.is_file():
            raise ConfigError(
                f"ckpt_path=last: no checkpoint at {path}; pass the interrupted run's folder "
                "as hydra.run.dir=<folder> (or drop ckpt_path to start afresh)"
            )
        return path
    path = Path(ckpt_path)
    if not path.is_file():
        raise ConfigError(f"ckpt_path: no checkpoint file at {path}")
    return path


def read_checkpoint(path: Path) -> dict:
    """A checkpoint's contents, refused in one line if unreadable or not a training checkpoint."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # truncated zip, pickle garbage, permissions...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(
            f"ckpt_path: {path} is not a readable checkpoint (corrupted or truncated?): {first}"
        ) from None
    missing = [k for k in REQUIRED_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise ConfigError(f"ckpt_path: {path} is not a full training checkpoint (no {missing})")
    return state
