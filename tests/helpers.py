"""Helpers for tests: tiny data settings and a subprocess runner for the real CLIs."""

from __future__ import annotations

import os
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
