"""Pure schedule formulas for sparsifying methods and the learning rate (no Lightning, no state)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def grown_beta(beta: float, growth: float, beta_max: float | None, epochs_done: int) -> float:
    """beta after ``epochs_done`` epoch ends, each multiplying it by ``growth``, capped at beta_max.

    The relaxed-splitting code of the paper's group grows beta by a constant factor (1.25 every
    20-40 epochs there) so that w is pulled ever closer to its sparse copy u.
    """
    value = beta * growth**epochs_done
    return value if beta_max is None else min(value, beta_max)


def cubic_sparsity(step: int, final: float, start_step: int, end_step: int) -> float:
    """Target sparsity of gradual magnitude pruning after ``step`` optimizer steps.

    Zhu & Gupta (2017), with initial sparsity 0: s_t = s_f (1 - (1 - (t - t0) / (t1 - t0))^3)
    for t0 <= t <= t1, 0 before t0 and s_f from t1 on. It prunes fast while many redundant
    weights remain and slowly near the end, when each weight removed matters more.
    """
    if step >= end_step:
        return final
    if step <= start_step:
        return 0.0
    progress = (step - start_step) / (end_step - start_step)
    return final * (1.0 - (1.0 - progress) ** 3)


def step_window(start: float, end: float, total_steps: int | float) -> tuple[int, int]:
    """The optimizer steps t0 <= t1 between which a cubic schedule runs, from fractions of the
    training; t1 >= 1, so the final value is reached."""
    if not math.isfinite(total_steps):
        raise ValueError("a sparsity schedule needs a finite trainer.max_epochs")
    t1 = max(1, round(end * total_steps))
    return min(round(start * total_steps), t1), t1


def step_lr(
    optimizer: torch.optim.Optimizer,
    epochs: int,
    at: Sequence[float] = (0.4, 0.6, 0.8),
    gamma: float = 0.1,
) -> torch.optim.lr_scheduler.MultiStepLR:
    """lr x ``gamma`` at the given fractions of ``epochs`` (the authors' 80/120/160 of 200)."""
    milestones = sorted({max(1, round(f * epochs)) for f in at})
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=gamma)
