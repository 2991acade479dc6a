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
from rvsm.utils.io import atomic_open

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
    held = _held(output_dir)
    last = output_dir / "checkpoints" / "last.ckpt"
    if held.get("status") != "preempted" or not last.is_file():
        return None
    if held.get("config_hash", config_hash(cfg)) != config_hash(cfg):
        raise _other_run(held, cfg, "a preempted run", output_dir)
    return "last"


# settings that do not change a run's numbers: where it is written and logged, how it is
# executed and resumed (threads only reorder float sums)
NOT_HASHED = (
    "paths", "logger", "callbacks", "threads", "ckpt_path", "auto_resume", "skip_finished",
    "stop_after_epochs", "hold",
)  # fmt: skip


def config_hash(cfg) -> str:
    """A digest of the settings that make a run's numbers (all but ``NOT_HASHED`` and the
    progress bar): one digest, one run, wherever and however it ran."""
    settings = OmegaConf.to_container(cfg, resolve=True)
    for key in NOT_HASHED:
        settings.pop(key, None)
    settings.get("trainer", {}).pop("enable_progress_bar", None)
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _held(output_dir: Path) -> dict:
    try:
        return json.loads((output_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}


def _other_run(held: dict, cfg, what: str, output_dir: Path) -> ConfigError:
    return ConfigError(
        f"{output_dir} holds {what} of other settings (config_hash {held['config_hash']}, this "
        f"run's {config_hash(cfg)}); not overwritten: give the sweep another hydra.sweep.dir "
        "(a grid with values added or removed numbers its jobs anew), or remove that folder"
    )


def finished_objective(cfg, output_dir: Path) -> float | None:
    """With ``skip_finished``, the objective of the run already finished in ``output_dir`` when
    it was this run (status ok, the same ``config_hash``); None when there is none: train. A
    finished run of other settings there is refused (ConfigError), not trained over."""
    held = _held(output_dir) if cfg.get("skip_finished") else {}
    if held.get("status") != "ok" or "config_hash" not in held:
        return None
    if held["config_hash"] != config_hash(cfg):
        raise _other_run(held, cfg, "a finished run", output_dir)
    return float(held["objective"])


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
