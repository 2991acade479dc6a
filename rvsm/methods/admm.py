"""ADMM pruning (Zhang et al. 2018, "A systematic DNN weight pruning framework using alternating
direction method of multipliers"), the baseline of the RVSM authors' own repository.

The split weights w must end with at most k = n - round(s n) nonzeros per layer. ADMM in scaled
form, with rho the coupling strength:

    loss:                  f(w) + rho/2 sum_layers ||w - u + U||^2      (u, U constant)
    every update_every_steps optimizer steps (one ADMM iteration):
                           u <- proj_k(w + U)      the k largest |w + U|, by magnitude
                           U <- U + w - u          the scaled dual
                           rho <- rho * rho_growth

The dual U accumulates the gap w - u, which is what drives w onto the sparse set. Then, for the
last ``retrain_epochs`` epochs, w is hard-pruned to its own k largest magnitudes and retrained
with that mask fixed (pruned weights stay exactly zero), the optimizer's moments reset. The
projection is by magnitude, as the paper states; the authors' repository takes the percentile
of the signed weights, which does not prune the fraction it names (it keeps every large negative
weight out of the count), so it is not copied here.

The evaluated network uses u during the ADMM phase (exactly sparse) and the masked w after the
prune; w itself is the dense twin until then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from rvsm.methods.base import SparsityMethod, state_name
from rvsm.methods.constraints import keep_largest
from rvsm.methods.structure import LayerSpec
from rvsm.utils.arguments import integer, number, positive, require
from rvsm.utils.settings import Settings, knob


@dataclass(frozen=True)
class ADMMSettings(Settings):
    """ADMM's knobs (``method.*`` of conf/method/admm.yaml)."""

    sparsity: float = knob(
        0.9,
        lambda v: number(v) and 0 < v < 1,
        "a fraction in (0, 1)",
        label="sparsity_target",
        main=True,
    )
    rho: float = knob(0.1, positive, "a number > 0")
    rho_growth: float = knob(1.1, lambda v: number(v) and v >= 1, "a number >= 1")
    update_every_steps: int = knob(100, lambda v: integer(v) and v >= 1, "an integer >= 1")
    retrain_epochs: int = knob(2, lambda v: integer(v) and v >= 0, "an integer >= 0")
    #: the run's ``trainer.max_epochs``: room for one ADMM epoch before the retraining
    max_epochs: int | None = knob(None, described=False)

    def check(self) -> None:
        if self.max_epochs not in (None, -1):
            require(
                "retrain_epochs",
                self.retrain_epochs,
                self.retrain_epochs < self.max_epochs,
                f"an integer >= 0 and < the run's epochs ({self.max_epochs})",
            )


class ADMM(SparsityMethod):
    name = "admm"
    dense_twin = True
    Settings = ADMMSettings

    def __init__(self, **knobs) -> None:
        super().__init__(**knobs)
        # state, saved in checkpoints with u, U and the masks
        self.register_buffer("rho", torch.tensor(float(self.settings.rho), dtype=torch.float64))
        self.register_buffer("pruned", torch.tensor(False))

    def bind(
        self, layers: Mapping[str, nn.Module], specs: Mapping[str, LayerSpec] | None = None
    ) -> None:
        super().bind(layers, specs)
        for name, layer in self.layers.items():
            w = layer.weight.detach()
            self.register_buffer(state_name("u", name), keep_largest(w, self.settings.sparsity))
            self.register_buffer(state_name("dual", name), torch.zeros_like(w))
            self.register_buffer(state_name("mask", name), torch.ones_like(w, dtype=torch.bool))

    def u(self, layer: str) -> torch.Tensor:
        return getattr(self, state_name("u", layer))

    def dual(self, layer: str) -> torch.Tensor:
        return getattr(self, state_name("dual", layer))

    def mask(self, layer: str) -> torch.Tensor:
        return getattr(self, state_name("mask", layer))

    def loss(self) -> torch.Tensor:
        if self.pruned:
            return super().loss()
        gap = sum(
            (layer.weight - self.u(name) + self.dual(name)).pow(2).sum()
            for name, layer in self.layers.items()
        )
        return 0.5 * float(self.rho) * gap

    @torch.no_grad()
    def admm_update(self) -> None:
        """One ADMM iteration: u <- proj_k(w + U), U <- U + w - u, rho <- rho * growth."""
        for name, layer in self.layers.items():
            w = layer.weight
            self.u(name).copy_(keep_largest(w + self.dual(name), self.settings.sparsity))
            self.dual(name).add_(w - self.u(name))
        self.rho.mul_(self.settings.rho_growth)

    @torch.no_grad()
    def after_step(self, step: int, total_steps: int) -> None:
        if self.pruned:
            for name, layer in self.layers.items():
                layer.weight.mul_(self.mask(name))
        elif step % self.settings.update_every_steps == 0:
            self.admm_update()

    @torch.no_grad()
    def on_epoch_end(self, epoch: int, max_epochs: int) -> bool:
        """The hard prune before the retraining epochs: w keeps its own k largest magnitudes."""
        if self.pruned or epoch + 1 != max_epochs - self.settings.retrain_epochs:
            return False
        for name, layer in self.layers.items():
            kept = keep_largest(layer.weight, self.settings.sparsity) != 0
            self.mask(name).copy_(kept)
            layer.weight.mul_(kept)
        self.pruned.fill_(True)
        return True

    def evaluated_weights(self) -> dict[str, torch.Tensor]:
        if self.pruned:
            return {name: layer.weight * self.mask(name) for name, layer in self.layers.items()}
        return {name: self.u(name) for name in self.layers}

    def epoch_log(self) -> dict[str, float]:
        gap = sum(
            float((layer.weight - self.u(name)).detach().pow(2).sum())
            for name, layer in self.layers.items()
        )
        return {"rho": float(self.rho), "w_minus_u": gap**0.5}
