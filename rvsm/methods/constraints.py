"""Projections onto sparsity constraints (the u-step of a constrained split, or ADMM's proj)."""

from __future__ import annotations

import torch


def kept_count(numel: int, sparsity: float) -> int:
    """How many weights of ``numel`` stay nonzero at ``sparsity``: n - round(sparsity n)."""
    return numel - round(sparsity * numel)


def keep_largest(w: torch.Tensor, sparsity: float) -> torch.Tensor:
    """argmin over ||u||_0 <= k of ||w - u||^2 = w on its k largest |w|, zero elsewhere, with
    k = ``kept_count``; ties in |w| are broken by position (the first kept), so the number of
    zeros is exactly ``round(sparsity * w.numel())`` (more only where w itself is zero)."""
    flat = w.reshape(-1)
    k = kept_count(flat.numel(), sparsity)
    order = torch.sort(flat.abs(), descending=True, stable=True).indices
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep[order[:k]] = True
    return torch.where(keep, flat, torch.zeros_like(flat)).view_as(w)
