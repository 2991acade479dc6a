"""Helpers for tests: tiny data settings and a subprocess runner for the real CLIs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Small, fast data for CLI runs: few pairs, small images.
TINY_DATA = [
    "data.n_pairs={train:64,val:32,test:32}",
    "data.synth.image_size=[32,64]",
    "data.synth.body_px=[8.0,12.0]",
    "data.batch_size=32",
    "data.workers=1",
    "trainer.max_epochs=1",
    "splitting.finetune_epochs=0",  # the default 1 needs 2 epochs or more
    "trainer.enable_progress_bar=false",
]


def run_cli(
    args: list[str], cwd: Path, cache_dir: Path, timeout: int = 240, module: str = "rvsm.train"
):
    """Run ``python -m <module> args`` as a user would, with its own cache folder."""
    env = {
        **os.environ,
        "RVSM_CACHE_DIR": str(cache_dir),
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
    }
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(args: list[str], cwd: Path, cache_dir: Path, log: Path) -> subprocess.Popen:
    """Start ``python -m rvsm.train args`` in the background, its output going to ``log``."""
    env = {**os.environ, "RVSM_CACHE_DIR": str(cache_dir), "WANDB_MODE": "offline"}
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "rvsm.train", *args], cwd=cwd, env=env, stdout=out, stderr=out
        )


def wandb_records(offline_run: Path) -> list[dict]:
    """The records of an offline W&B run, read back by the wandb package's own CLI."""
    wandb_cli = shutil.which("wandb", path=str(Path(sys.executable).parent))
    out = subprocess.run(
        [wandb_cli, "leet", "inspect", "--json", str(offline_run)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def wandb_history_keys(records: list[dict]) -> set[str]:
    keys: set[str] = set()
    for rec in records:
        if rec.get("type") == "history":
            keys |= set(rec["history"]["item"])
    return keys
