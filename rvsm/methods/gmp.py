"""Gradual magnitude pruning (Zhu & Gupta 2017), the baseline a sparsifying method must beat.

Each split layer is pruned with ``torch.nn.utils.prune``: its weight becomes
``weight_orig * weight_mask`` (a forward pre-hook), gradients reach only the kept weights, and
both tensors are in the state dict, so a checkpoint restores the mask. Between ``start`` and
``end`` (fractions of the training steps) the mask is recomputed every ``every_steps`` optimizer
steps, and at ``end``: the smallest-magnitude kept weights are removed until the layer's
fraction of zeros reaches the cubic schedule ``rvsm.methods.schedules.cubic_sparsity``. A pruned
weight stays pruned. After ``end`` the mask is fixed and the kept weights fine-tune; the final
fraction of zeros is ``round(sparsity * n) / n`` exactly. The network being trained is the evaluated
network, so there is no dense twin.

``structure="channels"`` prunes whole filters instead (Li et al. 2017, "Pruning filters for
efficient ConvNets"): in each split conv layer the filters of smallest l1 norm, by
``prune.ln_structured`` over the output channels, until ``round(fraction * filters)`` of them are
zero. A pruned filter's channel is the fixed value relu(BN(bias)), which ``rvsm.slim`` folds into
the next layer when the network is rebuilt at the kept widths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import prune

from rvsm.methods.base import SparsityMethod
from rvsm.methods.schedules import cubic_sparsity, step_window
from rvsm.methods.sparsity import zero_fraction
from rvsm.methods.structure import LayerSpec
from rvsm.utils.arguments import integer, number, require
from rvsm.utils.settings import Settings, knob

STRUCTURES = ("weights", "channels")


@dataclass(frozen=True)
class GMPSettings(Settings):
    """GMP's knobs (``method.*`` of conf/method/gmp.yaml)."""

    sparsity: float = knob(
        0.9,
        lambda v: number(v) and 0 <= v < 1,
        "a fraction in [0, 1)",
        label="sparsity_target",
        main=True,
    )
    start: float = knob(
        0.1,
        lambda v: number(v) and 0 <= v <= 1,
        "a fraction of the steps in [0, 1]",
        label="prune_start",
    )
    end: float = knob(
        0.6,
        lambda v: number(v) and 0 <= v <= 1,
        "a fraction of the steps in [0, 1]",
        label="prune_end",
    )
    every_steps: int = knob(
        20, lambda v: integer(v) and v >= 1, "an integer >= 1", label="prune_every_steps"
    )
    structure: str = knob("weights", lambda v: v in STRUCTURES, "weights or channels")

    def check(self) -> None:
        require("end", self.end, self.end >= self.start, f">= start ({self.start})")


class GMP(SparsityMethod):
    name = "gmp"
    dense_twin = False
    Settings = GMPSettings

    def bind(
        self, layers: Mapping[str, nn.Module], specs: Mapping[str, LayerSpec] | None = None
    ) -> None:
        super().bind(layers, specs)
        if self.settings.structure == "channels":
            for name, layer in self.layers.items():
                require(
                    "layers",
                    name,
                    isinstance(layer, nn.Conv2d),
                    "conv layers only with structure=channels (it prunes whole filters; "
                    "e.g. [conv1,conv2,conv3])",
                )
        # weight -> weight_orig (parameter) * weight_mask (buffer, all ones): both exist before a
        # checkpoint is loaded into them
        for layer in self.layers.values():
            prune.identity(layer, "weight")

    def window(self, total_steps: int | float) -> tuple[int, int]:
        """The steps t0 <= t1 between which the sparsity grows (t1 >= 1, so it is reached)."""
        return step_window(self.settings.start, self.settings.end, total_steps)

    @torch.no_grad()
    def prune_to(self, fraction: float) -> None:
        """Zero the smallest-magnitude kept weights (or filters, by l1 norm) until each split
        layer has ``round(fraction * n)`` zeros among its n weights (filters); already pruned
        ones stay pruned."""
        for layer in self.layers.values():
            mask = layer.weight_mask
            if self.settings.structure == "channels":
                n, pruned = mask.shape[0], int((~mask.flatten(1).any(dim=1)).sum())
            else:
                n, pruned = mask.numel(), int((mask == 0).sum())
            new = round(fraction * n) - pruned
            if new <= 0:
                continue
            # on a pruned module the amount counts among the weights (filters) still kept;
            # scores: the current weights (by default prune would rank `weight` as computed at
            # the last forward, one optimizer step old)
            scores = layer.weight_orig.detach()
            if self.settings.structure == "channels":
                prune.ln_structured(layer, "weight", new, n=1, dim=0, importance_scores=scores)
            else:
                prune.l1_unstructured(layer, "weight", amount=new, importance_scores=scores)

    def after_step(self, step: int, total_steps: int) -> None:
        t0, t1 = self.window(total_steps)
        if step == t1 or (t0 <= step < t1 and (step - t0) % self.settings.every_steps == 0):
            self.prune_to(cubic_sparsity(step, self.settings.sparsity, t0, t1))

    def evaluated_weights(self) -> dict[str, torch.Tensor]:
        return {name: layer.weight_orig * layer.weight_mask for name, layer in self.layers.items()}

    def epoch_log(self) -> dict[str, float]:
        masks = {name: layer.weight_mask for name, layer in self.layers.items()}
        return {"pruned": zero_fraction(masks.values())}
