"""The config files' own interpolations (``${rvsm.<name>:...}``), registered on import.

``rvsm.runtime.checks`` imports this module, so every command line, sweep job and script that
composes the train config (``checks.composed``) resolves them.
"""

from __future__ import annotations

from omegaconf import OmegaConf

from rvsm.utils.arguments import integer as _int
from rvsm.utils.cpu import cpu_precision


def batch_scaled_lr(lr: float, per_batch: int, batch_size: object) -> float:
    """The learning rate ``lr`` given for batches of ``per_batch`` images, scaled linearly to
    ``batch_size`` (the linear scaling rule: the same step per image). Lets one optimizer file
    serve make train's batch and the recorded one: ``lr: ${rvsm.batch_scaled_lr:1.0e-3,64,
    ${data.batch_size}}`` is 1e-3 at batch 64 and 2e-3 at 128."""
    if not (_int(batch_size) and batch_size >= 1):
        raise ValueError(f"data.batch_size must be an integer >= 1, got {batch_size!r}")
    return float(lr) * batch_size / per_batch


OmegaConf.register_new_resolver("rvsm.batch_scaled_lr", batch_scaled_lr, replace=True)
# the CPU training precision measured fastest on this machine (rvsm.utils.cpu)
OmegaConf.register_new_resolver("rvsm.cpu_precision", cpu_precision, replace=True)
