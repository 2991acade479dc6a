"""LightningModule that trains a network by the Relaxed Variable Splitting Method.

Loss seen by the optimizer:  f(w) + beta/2 * sum_layers ||w - u||^2   (u constant)
After every optimizer step:  u <- prox(w; lam/beta)                    (``refresh_u``)
Evaluation uses the sparse network: u in place of w in the split layers. The dense accuracy
(w itself) is reported beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torchmetrics.classification import MulticlassAccuracy

from rvsm.penalties import Penalty


class DivergedError(RuntimeError):
    """The training loss became NaN or infinite; the step that produced it is not applied."""


class RVSMModule(L.LightningModule):
    def __init__(
        self,
        net: nn.Module,
        penalty: Penalty,
        beta: float,
        split_layers: Sequence[str] = ("fc",),
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "penalty", "optimizer", "scheduler"], logger=False)
        self.net = net.to(memory_format=torch.channels_last)
        self.penalty, self.beta = penalty, float(beta)
        self.make_optimizer = optimizer or torch.optim.Adam
        self.make_scheduler = scheduler
        self.layers = dict(net.weighted_layers())
        unknown = [name for name in split_layers if name not in self.layers]
        if unknown or len(set(split_layers)) != len(split_layers):
            raise ValueError(
                f"splitting.layers: unknown or repeated layer(s) {unknown or list(split_layers)}; "
                f"choose from {sorted(self.layers)}"
            )
        self.split_layers = tuple(split_layers)
        for name in self.split_layers:
            w = self.layers[name].weight.detach()
            self.register_buffer(f"u_{name}", penalty.prox(w, self.beta))  # prox checks beta
        # training accuracy is that of w (the network being optimized); val/test report both
        names = ["train_dense"] + [f"{s}_{k}" for s in ("val", "test") for k in ("sparse", "dense")]
        self.accuracy = nn.ModuleDict(
            {name: MulticlassAccuracy(num_classes=2, average="micro") for name in names}
        )

    # ---- the RVSM pieces -------------------------------------------------------------------
    def u(self, layer: str) -> torch.Tensor:
        return getattr(self, f"u_{layer}")

    def split_gap(self) -> torch.Tensor:
        """sum over split layers of ||w - u||^2 (u is a buffer, so no gradient flows into it)."""
        gap = torch.zeros((), device=self.device)
        for name in self.split_layers:
            gap = gap + (self.layers[name].weight - self.u(name)).pow(2).sum()
        return gap

    @torch.no_grad()
    def refresh_u(self) -> None:
        """The splitting step: u <- prox(w), element-wise, for each split layer."""
        for name in self.split_layers:
            self.u(name).copy_(self.penalty.prox(self.layers[name].weight, self.beta))

    def sparse_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network with u in place of the split layers' weights; w is left untouched."""
        swapped = {f"{name}.weight": self.u(name) for name in self.split_layers}
        return functional_call(self.net, swapped, (x,))

    def evaluated_weights(self) -> dict[str, torch.Tensor]:
        """Each layer's weight as the evaluated (sparse) network uses it."""
        return {
            name: self.u(name) if name in self.split_layers else layer.weight
            for name, layer in self.layers.items()
        }

    def sparsity(self) -> dict[str, float]:
        """Fractions of exact zeros: per split layer, in the FC layer, and over all split layers."""
        weights = self.evaluated_weights()
        out = {f"sparsity_{n}": (weights[n] == 0).float().mean().item() for n in self.split_layers}
        out["sparsity_fc"] = (weights["fc"] == 0).float().mean().item()
        zeros = sum(int((weights[n] == 0).sum()) for n in self.split_layers)
        total = sum(weights[n].numel() for n in self.split_layers)
        out["sparsity"] = zeros / total if total else 0.0
        return out

    # ---- Lightning hooks ---------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sparse_forward(x)

    def on_fit_start(self) -> None:
        self.refresh_u()

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self.net(x)
        ce = F.cross_entropy(logits, y)
        gap = self.split_gap()
        loss = ce + 0.5 * self.beta * gap
        if not torch.isfinite(loss):  # stop before the optimizer writes NaN into w and u
            raise DivergedError(
                f"train/loss is {loss.item()} at epoch {self.current_epoch}, "
                f"step {self.global_step} (try a smaller model.optimizer.lr or splitting.beta)"
            )
        self.accuracy["train_dense"](logits, y)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        self.log("train/ce", ce, on_step=False, on_epoch=True)
        self.log(
            "train/acc", self.accuracy["train_dense"], on_step=False, on_epoch=True, prog_bar=True
        )
        self.log("train/w_minus_u", gap.detach().sqrt(), on_step=True, on_epoch=False)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self.refresh_u()

    def _evaluate(self, batch, stage: str) -> None:
        x, y = batch
        sparse_logits, dense_logits = self.sparse_forward(x), self.net(x)
        self.accuracy[f"{stage}_sparse"](sparse_logits, y)
        self.accuracy[f"{stage}_dense"](dense_logits, y)
        self.log(f"{stage}/loss", F.cross_entropy(sparse_logits, y), sync_dist=True)
        self.log(f"{stage}/acc", self.accuracy[f"{stage}_sparse"], prog_bar=True)
        self.log(f"{stage}/acc_dense", self.accuracy[f"{stage}_dense"])

    def _log_sparsity(self, stage: str) -> None:
        for key, value in self.sparsity().items():
            self.log(f"{stage}/{key}", value, prog_bar=key == "sparsity_fc", sync_dist=True)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._log_sparsity("val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_sparsity("test")

    def configure_optimizers(self):
        optimizer = self.make_optimizer(params=self.parameters())
        if self.make_scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.make_scheduler(optimizer=optimizer)}
