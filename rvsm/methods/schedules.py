"""Pure schedule formulas for sparsifying methods (no Lightning, no state)."""

from __future__ import annotations


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
