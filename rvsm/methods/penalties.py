"""Sparsity penalties P and their proximal (thresholding) operators.

Each penalty holds its weight ``lam`` and offers

* ``value(u)``  = lam * sum P(u)
* ``prox(w, beta)`` = element-wise argmin_u  lam * P(u) + beta / 2 * (u - w)^2,

in closed form, vectorised, keeping the dtype and device of ``w``. The group penalties
(``GroupL0``, ``GroupL1``, ``GroupTL1``) apply the same scalar P to the norms of a layer's
input-channel groups (``rvsm.methods.structure.channel_groups``), so that a zero is a whole
channel the previous layer need not compute. The RVSM step refreshes
the auxiliary weights with ``u <- prox(w, beta, layer)``; ``layer`` (a ``LayerSpec``: name,
shape, what the layer reads) lets a structured penalty group the weights, and element-wise
penalties ignore it. Formulas: docs/math.md.
Pure torch, no Lightning: the training loop only calls these two methods.
"""

from __future__ import annotations

import math

import torch

from rvsm.methods.structure import LayerSpec, channel_groups
from rvsm.utils.arguments import ArgumentError, non_negative, positive, require

_CHUNK = 1 << 19  # elements per chunk of the Tl1 prox: its temporaries stay in cache


class Penalty:
    """Base class: ``lam`` >= 0 weights the penalty; subclasses define ``value`` and ``prox``."""

    name = "base"

    def __init__(self, lam: float = 0.0) -> None:
        require("lam", lam, non_negative, "a number >= 0")
        self.lam = float(lam)

    def value(self, u: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def prox(self, w: torch.Tensor, beta: float, layer: LayerSpec | None = None) -> torch.Tensor:
        raise NotImplementedError

    def threshold(self, beta: float) -> float:
        """|w| at or below which prox(w) = 0."""
        raise NotImplementedError

    def describe(self) -> dict[str, float | str | None]:
        """The settings that identify this penalty in logs and ``metrics.json``."""
        return {"penalty": self.name, "lam": self.lam, "a": None}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.describe().items() if k != "penalty")
        return f"{type(self).__name__}({args})"


def _check_beta(beta: float) -> None:
    if not beta > 0:
        raise ArgumentError("beta", f"must be > 0, got {beta}")


class NoPenalty(Penalty):
    """P = 0: prox is the identity, so u tracks w and RVSM reduces to dense training."""

    name = "none"

    def value(self, u: torch.Tensor) -> torch.Tensor:
        return u.new_zeros(())

    def prox(self, w: torch.Tensor, beta: float, layer: LayerSpec | None = None) -> torch.Tensor:
        _check_beta(beta)
        return w.clone()

    def threshold(self, beta: float) -> float:
        _check_beta(beta)
        return 0.0


class L0(Penalty):
    """P(u) = [u != 0]; prox is hard thresholding at sqrt(2 lam / beta)."""

    name = "l0"

    def value(self, u: torch.Tensor) -> torch.Tensor:
        return self.lam * (u != 0).sum().to(u.dtype)

    def prox(self, w: torch.Tensor, beta: float, layer: LayerSpec | None = None) -> torch.Tensor:
        _check_beta(beta)
        return torch.where(w.abs() > self.threshold(beta), w, torch.zeros_like(w))

    def threshold(self, beta: float) -> float:
        _check_beta(beta)
        return math.sqrt(2.0 * self.lam / beta)


class L1(Penalty):
    """P(u) = |u|; prox is soft thresholding at lam / beta."""

    name = "l1"

    def value(self, u: torch.Tensor) -> torch.Tensor:
        return self.lam * u.abs().sum()

    def prox(self, w: torch.Tensor, beta: float, layer: LayerSpec | None = None) -> torch.Tensor:
        _check_beta(beta)
        return torch.sign(w) * torch.clamp(w.abs() - self.threshold(beta), min=0.0)

    def threshold(self, beta: float) -> float:
        _check_beta(beta)
        return self.lam / beta


class TL1(Penalty):
    """Transformed l1, P(u) = (a + 1)|u| / (a + |u|), a > 0 (Zhang & Xin 2017).

    Interpolates between l0 (a -> 0) and l1 (a -> infinity). Its prox has a closed form
    (a cubic root in trigonometric form) above a threshold that depends on whether
    lam / beta is below or above the critical value a^2 / (2 (a + 1)).
    """

    name = "tl1"

    def __init__(self, lam: float = 0.0, a: float = 1.0) -> None:
        super().__init__(lam)
        require("a", a, positive, "a number > 0")
        self.a = float(a)

    def describe(self) -> dict[str, float | str | None]:
        return {"penalty": self.name, "lam": self.lam, "a": self.a}

    def value(self, u: torch.Tensor) -> torch.Tensor:
        a = self.a
        absu = u.abs()
        return self.lam * ((a + 1.0) * absu / (a + absu)).sum()

    def threshold(self, beta: float) -> float:
        _check_beta(beta)
        a, lam = self.a, self.lam / beta
        if lam <= a * a / (2.0 * (a + 1.0)):
            return lam * (a + 1.0) / a
        return math.sqrt(2.0 * lam * (a + 1.0)) - a / 2.0

    def prox(self, w: torch.Tensor, beta: float, layer: LayerSpec | None = None) -> torch.Tensor:
        """Evaluated in cache-sized chunks with in-place ops: the root needs an arccos and a cos
        per element, and on whole 10M-element tensors the memory traffic of ~15 temporaries
        cost 5x more than the arithmetic (see experiments/benchmarks.md)."""
        t = self.threshold(beta)
        w = w.contiguous()
        out = torch.empty_like(w)
        flat_w, flat_out = w.view(-1), out.view(-1)
        for start in range(0, flat_w.numel(), _CHUNK):
            end = start + _CHUNK
            self._prox_into(flat_w[start:end], flat_out[start:end], self.lam / beta, t)
        return out

    def _prox_into(self, w: torch.Tensor, out: torch.Tensor, lam: float, t: float) -> None:
        """out <- prox(w): the largest root of the cubic in trigonometric form, 0 where |w| <= t.

        With v = a + |w|:  u = 2/3 v cos(phi/3) - 2a/3 + |w|/3,
        phi = arccos(1 - 27 lam a (a + 1) / (2 v^3)).
        """
        a = self.a
        absw = w.abs()
        v = absw + a
        torch.pow(v, 3, out=out)
        out.reciprocal_().mul_(-13.5 * lam * a * (a + 1.0)).add_(1.0).clamp_(-1.0, 1.0)
        out.arccos_().div_(3.0).cos_().mul_(v).mul_(2.0 / 3.0)
        out.add_(absw, alpha=1.0 / 3.0).sub_(2.0 * a / 3.0)
        out.masked_fill_(absw <= t, 0.0).copysign_(w)


class GroupPenalty(Penalty):
    """P(u) = sum over the layer's input-channel groups g of P_scalar(||u_g||_2) (RGSM).

    Because P depends on u_g only through its norm, the minimiser of
    lam P_scalar(||u_g||) + beta/2 ||u_g - w_g||^2 lies on the ray through w_g: u_g =
    s w_g / ||w_g|| with s = prox_scalar(||w_g||). So every element-wise prox above gives its
    group prox in closed form: group l0 zeroes w_g when ||w_g|| <= sqrt(2 lam / beta) and keeps
    it otherwise, group l1 scales it by max(0, 1 - lam / (beta ||w_g||)) (docs/math.md).
    """

    scalar: type[Penalty]

    def __init__(self, lam: float = 0.0, **scalar_args: float) -> None:
        super().__init__(lam)
        self.inner = self.scalar(lam, **scalar_args)

    def describe(self) -> dict[str, float | str | None]:
        return {**self.inner.describe(), "penalty": self.name}

    def value(self, u: torch.Tensor, layer: LayerSpec | None = None) -> torch.Tensor:
        return self.inner.value(channel_groups(u, layer, self.name).norm(dim=(0, 2)))

    def threshold(self, beta: float) -> float:
        """||w_g|| at or below which the group is zeroed."""
        return self.inner.threshold(beta)

    def prox(self, w: torch.Tensor, beta: float, layer: LayerSpec | None = None) -> torch.Tensor:
        groups = channel_groups(w, layer, self.name)
        norms = groups.norm(dim=(0, 2))
        shrunk = self.inner.prox(norms, beta)
        scale = torch.where(norms > 0, shrunk / norms.clamp_min(torch.finfo(w.dtype).tiny), 0.0)
        return (groups * scale[None, :, None]).view_as(w)


class GroupL0(GroupPenalty):
    """Group l0: a group is kept as it is when its norm exceeds sqrt(2 lam / beta), else zeroed."""

    name = "group_l0"
    scalar = L0


class GroupL1(GroupPenalty):
    """Group lasso: each group's norm is soft-thresholded at lam / beta."""

    name = "group_l1"
    scalar = L1


class GroupTL1(GroupPenalty):
    """Group Tl1: the norm of each group goes through the Tl1 prox (``a`` as for ``TL1``)."""

    name = "group_tl1"
    scalar = TL1

    def __init__(self, lam: float = 0.0, a: float = 1.0) -> None:
        super().__init__(lam, a=a)
