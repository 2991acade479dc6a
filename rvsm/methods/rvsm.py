"""RVSM, the Relaxed Variable Splitting Method: the whole step and its schedules are here.

Loss seen by the optimizer:  f(w) + beta/2 * sum_layers ||w - u||^2   (u constant)
After every optimizer step:  u <- prox(w; lam/beta)
The evaluated network uses u in the split layers; w is the dense twin.

Schedules that bring w onto u (``splitting.*``), applied at each epoch end after validation:
- ``beta_growth`` multiplies beta (capped at ``beta_max``), pulling w ever closer to u. With
  ``keep_threshold`` lam grows with beta, so the prox threshold stays where the user put it;
  otherwise the threshold sqrt(2 lam / beta) (l0) shrinks as beta grows.
- ``sync_every_epoch`` copies u into w (the authors' group code does this as ``replace_weight``).
- ``finetune_epochs``: the last N epochs train with u's support fixed: w <- u, pruned weights stay
  exactly zero in w and u, survivors keep training and u = w, so the evaluated network is the
  trained one (the retraining phase of ADMM pruning).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from rvsm.methods.arguments import flag, integer, positive, require
from rvsm.methods.base import SparsityMethod
from rvsm.methods.penalties import Penalty
from rvsm.methods.schedules import grown_beta
from rvsm.methods.structure import LayerSpec


class RVSM(SparsityMethod):
    name = "rvsm"
    dense_twin = True
    main_knobs = ("penalty", "lam", "a")
    summary_knobs = ("penalty", "lam", "beta", "a")

    def __init__(
        self,
        penalty: Penalty,
        beta: float,
        beta_growth: float = 1.0,
        beta_max: float | None = None,
        keep_threshold: bool = True,
        sync_every_epoch: bool = False,
        finetune_epochs: int = 0,
        max_epochs: int | None = None,
    ) -> None:
        """``max_epochs``: the run's ``trainer.max_epochs``, which the finetune phase must fit in
        (None: not checked)."""
        super().__init__()
        require("splitting.beta", beta, positive, "a number > 0")
        require("splitting.beta_growth", beta_growth, positive, "a number > 0 (1.0 = fixed)")
        if beta_max is not None:
            require(
                "splitting.beta_max",
                beta_max,
                lambda v: positive(v) and v >= beta,
                f"a number >= splitting.beta ({beta}) (or null)",
            )
        require("splitting.keep_threshold", keep_threshold, flag, "true or false")
        require("splitting.sync_every_epoch", sync_every_epoch, flag, "true or false")
        require(
            "splitting.finetune_epochs",
            finetune_epochs,
            lambda v: integer(v) and v >= 0,
            "an integer >= 0",
        )
        if max_epochs is not None and max_epochs != -1 and finetune_epochs:
            require(
                "splitting.finetune_epochs",
                finetune_epochs,
                finetune_epochs < max_epochs,
                f"< trainer.max_epochs ({max_epochs}) (a run this short: "
                "splitting.finetune_epochs=0)",
            )
        self.penalty = penalty
        self.beta0, self.growth, self.beta_max = float(beta), float(beta_growth), beta_max
        self.keep_threshold, self.sync_every_epoch = bool(keep_threshold), bool(sync_every_epoch)
        self.finetune_epochs = int(finetune_epochs)
        # schedule state, saved in checkpoints with u and the finetune masks
        self.register_buffer("beta", torch.tensor(float(beta), dtype=torch.float64))
        self.register_buffer("finetuning", torch.tensor(False))

    def bind(
        self, layers: Mapping[str, nn.Module], specs: Mapping[str, LayerSpec] | None = None
    ) -> None:
        super().bind(layers, specs)
        for name, layer in self.layers.items():
            w = layer.weight.detach()
            self.register_buffer(
                f"u_{name}", self.penalty.prox(w, self.beta0, self.specs.get(name))
            )
            self.register_buffer(f"mask_{name}", torch.ones_like(w, dtype=torch.bool))

    # ---- the pieces of the step ----------------------------------------------------------
    def u(self, layer: str) -> torch.Tensor:
        return getattr(self, f"u_{layer}")

    def mask(self, layer: str) -> torch.Tensor:
        return getattr(self, f"mask_{layer}")

    @property
    def prox_beta(self) -> float:
        """The beta the prox sees: lam / prox_beta fixes the threshold (see keep_threshold)."""
        return self.beta0 if self.keep_threshold else float(self.beta)

    def split_gap(self) -> torch.Tensor:
        """sum over split layers of ||w - u||^2 (u is a buffer, so no gradient flows into it)."""
        return sum(
            (layer.weight - self.u(name)).pow(2).sum() for name, layer in self.layers.items()
        )

    def loss(self) -> torch.Tensor:
        return 0.5 * float(self.beta) * self.split_gap()

    @torch.no_grad()
    def refresh_u(self) -> None:
        """The splitting step: u <- prox(w) (element-wise, or grouped as the penalty reads the
        layer's spec); in the finetune phase u <- w on the
        fixed support (pruned weights are put back to exactly zero after the optimizer step)."""
        for name, layer in self.layers.items():
            if self.finetuning:
                layer.weight.mul_(self.mask(name))
                self.u(name).copy_(layer.weight)
            else:
                prox = self.penalty.prox(layer.weight, self.prox_beta, self.specs.get(name))
                self.u(name).copy_(prox)

    @torch.no_grad()
    def sync(self) -> None:
        """w <- u on the split layers."""
        for name, layer in self.layers.items():
            layer.weight.copy_(self.u(name))

    # ---- hooks ---------------------------------------------------------------------------
    def on_train_start(self, epochs_done: int) -> None:
        """beta follows from the settings and the epochs done, so a resumed run continues the
        schedule (u, masks and phase come from the checkpoint); a changed splitting.beta on
        resume takes effect."""
        self.beta.fill_(grown_beta(self.beta0, self.growth, self.beta_max, epochs_done))

    def after_step(self, step: int, total_steps: int) -> None:
        self.refresh_u()

    @torch.no_grad()
    def on_epoch_end(self, epoch: int, max_epochs: int) -> None:
        if self.finetune_epochs and epoch + 1 == max_epochs - self.finetune_epochs:
            for name in self.layers:
                self.mask(name).copy_(self.u(name) != 0)
            self.finetuning.fill_(True)
            self.sync()
        elif self.sync_every_epoch and not self.finetuning:
            self.sync()
        self.beta.fill_(grown_beta(self.beta0, self.growth, self.beta_max, epoch + 1))

    def evaluated_weights(self) -> dict[str, torch.Tensor]:
        return {name: self.u(name) for name in self.layers}

    def epoch_log(self) -> dict[str, float]:
        return {
            "beta": float(self.beta),
            "threshold": self.penalty.threshold(self.prox_beta),
            "w_minus_u": float(self.split_gap().detach().sqrt()),
        }

    def describe(self) -> dict:
        return {
            "method": self.name,
            **self.penalty.describe(),
            "beta": self.beta0,
            "beta_growth": self.growth,
            "beta_max": self.beta_max,
            "keep_threshold": self.keep_threshold,
            "sync_every_epoch": self.sync_every_epoch,
            "finetune_epochs": self.finetune_epochs,
        }
