"""Hard-concrete gates of L0 regularisation (Louizos, Welling & Kingma, ICLR 2018): pure torch.

A gate z in [0, 1] multiplies each weight. With u ~ Uniform(0, 1) and a learned ``log_alpha``:

    s = sigmoid((log u - log(1 - u) + log_alpha) / b)       (binary concrete, temperature b)
    z = min(1, max(0, s (zeta - gamma) + gamma))             (stretched to (gamma, zeta), clipped)

so z is exactly 0 or exactly 1 with positive probability. The expected number of non-zero gates
is differentiable in log_alpha:  sum P(z > 0) = sum sigmoid(log_alpha - b log(-gamma / zeta)).
At test time the deterministic gate min(1, max(0, sigmoid(log_alpha) (zeta - gamma) + gamma)) is
used; it is exactly 0 when sigmoid(log_alpha) <= -gamma / (zeta - gamma), i.e. log_alpha <=
log(-gamma / zeta) = -2.398 with the constants below.
"""

from __future__ import annotations

import math

import torch

B, GAMMA, ZETA = 2.0 / 3.0, -0.1, 1.1  # temperature and stretch interval of the paper


def sample_gates(
    log_alpha: torch.Tensor, generator: torch.Generator | None = None, eps: float = 1e-6
) -> torch.Tensor:
    """One hard-concrete sample per entry of ``log_alpha`` (differentiable in log_alpha)."""
    u = torch.rand(
        log_alpha.shape, generator=generator, device=log_alpha.device, dtype=log_alpha.dtype
    )
    u = u.clamp(eps, 1.0 - eps)
    s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + log_alpha) / B)
    return (s * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)


def deterministic_gates(log_alpha: torch.Tensor) -> torch.Tensor:
    """The test-time gate; exactly 0 for log_alpha <= log(-gamma / zeta)."""
    return (torch.sigmoid(log_alpha) * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)


def prob_open(log_alpha: torch.Tensor) -> torch.Tensor:
    """P(z > 0) per gate: sigmoid(log_alpha - b log(-gamma / zeta))."""
    return torch.sigmoid(log_alpha - B * math.log(-GAMMA / ZETA))


def expected_l0(log_alpha: torch.Tensor) -> torch.Tensor:
    """Expected number of non-zero gates (the L0 norm of the gated weights, in expectation)."""
    return prob_open(log_alpha).sum()
