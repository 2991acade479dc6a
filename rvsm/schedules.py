"""Pure schedule formulas for sparsifying methods (no Lightning, no state)."""

from __future__ import annotations


def grown_beta(beta: float, growth: float, beta_max: float | None, epochs_done: int) -> float:
    """beta after ``epochs_done`` epoch ends, each multiplying it by ``growth``, capped at beta_max.

    The relaxed-splitting code of the paper's group grows beta by a constant factor (1.25 every
    20-40 epochs there) so that w is pulled ever closer to its sparse copy u.
    """
    value = beta * growth**epochs_done
    return value if beta_max is None else min(value, beta_max)
