"""How the split weights w are pulled towards their sparse copy u: the coupling of RVSM and ADMM.

``gradient``: the loss gets beta/2 ||w - u||^2, so the pull beta (w - u) goes through the
optimizer (Adam rescales it per coordinate; SGD's momentum and weight decay act on it).
``decoupled``: the pull is applied to w directly, once per optimizer step of size eta, outside the
optimizer's scaling, in one of two forms:

- ``explicit`` (the authors' code, before the optimizer step): w <- w - eta beta (w - u);
- ``proximal`` (after the optimizer step): w <- argmin_v ||v - w||^2 / (2 eta) + beta/2 ||v - u||^2
  = (w + eta beta u) / (1 + eta beta), which never overshoots u, whatever eta beta.
"""

from __future__ import annotations

import torch

COUPLINGS = ("gradient", "decoupled")
DECOUPLED_FORMS = ("proximal", "explicit")


@torch.no_grad()
def explicit_pull(w: torch.Tensor, u: torch.Tensor, eta: float, beta: float) -> None:
    """w <- w - eta beta (w - u), in place."""
    w.sub_(w - u, alpha=eta * beta)


@torch.no_grad()
def proximal_pull(w: torch.Tensor, u: torch.Tensor, eta: float, beta: float) -> None:
    """w <- (w + eta beta u) / (1 + eta beta), in place."""
    w.add_(u, alpha=eta * beta).div_(1.0 + eta * beta)
