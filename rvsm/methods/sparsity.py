"""Sparsity counted one way everywhere: fractions of exact zeros (module, methods, reports)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch


def zero_fraction(tensors: Iterable[torch.Tensor]) -> float:
    """Exact zeros over all elements of ``tensors`` together (0.0 when there are none)."""
    zeros = total = 0
    for t in tensors:
        zeros += int((t == 0).sum())
        total += t.numel()
    return zeros / total if total else 0.0


def sparsity_metrics(split: Mapping[str, torch.Tensor], head: torch.Tensor) -> dict[str, float]:
    """``sparsity_<layer>`` per split layer, ``sparsity`` over them all, and ``sparsity_fc`` of
    the network's classifier weight ``head`` (the number the paper reports), split or not."""
    out = {f"sparsity_{name}": zero_fraction([w]) for name, w in split.items()}
    out["sparsity_fc"] = zero_fraction([head])
    out["sparsity"] = zero_fraction(split.values())
    return out
