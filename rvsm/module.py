"""LightningModule that trains the CNN and lets one sparsifying method make its split layers sparse.

The module orchestrates: loss = cross-entropy + ``method.loss()``, ``method.after_step`` after
every optimizer step, ``method.on_epoch_end`` after each epoch's validation (before its
checkpoint). The method lives in ``rvsm/methods/``; RVSM's step is in ``rvsm/methods/rvsm.py``.
Validation and test evaluate the sparse network (the method's evaluated weights in the split
layers) and, where the method trains a different dense network, report it as ``*/acc_dense``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torchmetrics.classification import MulticlassAccuracy

from rvsm.methods import SparsityMethod
from rvsm.methods.sparsity import sparsity_metrics
from rvsm.methods.structure import LayerSpec
from rvsm.nets import SplittableNet, select_layers, slimmable
from rvsm.slim import flops, kept_channels, slim
from rvsm.utils import allocator


class DivergedError(RuntimeError):
    """The training loss became NaN or infinite; the step that produced it is not applied."""


class SparseModule(L.LightningModule):
    def __init__(
        self,
        net: SplittableNet,
        method: SparsityMethod,
        split_layers: Sequence[str] = ("fc",),
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        compile: bool = False,
        finite_check_every: int | None = None,
        retain_freed_memory: bool = True,
        split_weight_decay: float | None = None,
    ) -> None:
        """``compile``: the training forward through ``torch.compile`` (inductor), weights shared.
        ``finite_check_every``: check that the loss is finite every N steps (and before every
        checkpoint); each check makes the host wait for the device, so None means every step on
        the CPU, where waiting costs nothing, and every 50 steps on an accelerator.
        ``retain_freed_memory``: keep freed buffers in the process
        (rvsm/utils/allocator.py), which spares the step its page faults.
        ``split_weight_decay``: the optimizer's weight decay on the split layers' weights (None:
        the same as on every other parameter; the authors' SGD recipe uses 0 there, where the
        coupling to u already regularises)."""
        super().__init__()
        if retain_freed_memory:
            allocator.retain_freed_memory()
        self.save_hyperparameters(ignore=["net", "method", "optimizer", "scheduler"], logger=False)
        self.net = net.to(memory_format=torch.channels_last)
        # a compiled bound method, not a submodule: the state_dict keeps its plain names
        self._compiled_forward = torch.compile(self.net.forward) if compile else None
        self.finite_check_every = finite_check_every
        self._loss_finite: torch.Tensor | None = None  # all losses since the last check finite
        self._finished_step: int | None = None  # the last global step finish_step() completed
        self.make_optimizer = optimizer or torch.optim.Adam
        self.split_weight_decay = split_weight_decay
        self.make_scheduler = scheduler
        self.layers = dict(net.weighted_layers())
        self.split_layers = tuple(select_layers(list(self.layers), split_layers))
        self.method = method
        method.bind(
            {name: self.layers[name] for name in self.split_layers},
            {name: self.layer_spec(name) for name in self.split_layers},
        )
        # training accuracy is that of the network being optimized; val/test report the sparse
        # (evaluated) network and, where the method has one, its dense twin
        names = ["fit"] + [f"{s}_{k}" for s in ("val", "test") for k in ("sparse", "dense")]
        classes = net.num_classes
        self.accuracy = nn.ModuleDict(
            {name: MulticlassAccuracy(num_classes=classes, average="micro") for name in names}
        )

    def layer_spec(self, name: str) -> LayerSpec:
        """What a method may know of a layer: its weight's shape and the shape of its input."""
        weight = self.layers[name].weight
        reads = self.net.feature_shape if name == self.net.head_name else (weight.shape[1],)
        return LayerSpec(name, tuple(weight.shape), tuple(reads))

    # ---- the evaluated network -------------------------------------------------------------
    def sparse_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network with the method's evaluated weights in the split layers; w untouched."""
        return self._forward_with(self.method.evaluated_weights(), x)

    def _forward_with(
        self, weights: dict[str, torch.Tensor], x: torch.Tensor, net: Callable | None = None
    ) -> torch.Tensor:
        if not weights:
            return (net or self.net)(x)
        swapped = {f"{name}.weight": w for name, w in weights.items()}
        return functional_call(self.net, swapped, (x,))

    def evaluated_weights(self) -> dict[str, torch.Tensor]:
        """Each layer's weight as the evaluated (sparse) network uses it."""
        split = self.method.evaluated_weights()
        return {name: split.get(name, layer.weight) for name, layer in self.layers.items()}

    def sparsity(self) -> dict[str, float]:
        """Fractions of exact zeros: per split layer, in the FC layer, and over all split layers."""
        weights = self.evaluated_weights()
        split = {name: weights[name] for name in self.split_layers}
        return sparsity_metrics(split, weights[self.net.head_name])

    def channels(self) -> dict[str, float]:
        """``flops``: FLOPs an image of the network as exported, ``flops_fraction``: over the
        dense network's (torch's FlopCounterMode, any network); ``channels_<conv>``: the
        channels each conv layer really needs, for a network rvsm/slim.py rebuilds at the
        widths it uses (``rvsm.nets.slimmable``); otherwise its filters that are not all zero
        (exported at full width, so the FLOPs stay those of the dense network)."""
        size, weights = self.net.image_size, self.evaluated_weights()
        dense = flops(self.net, size)
        if slimmable(self.net):
            small = slim(self.net, weights)
            kept, exported = kept_channels(small), flops(small, size)
        else:
            kept = {
                f"channels_{name}": int((weights[name] != 0).flatten(1).any(dim=1).sum())
                for name, layer in self.layers.items()
                if isinstance(layer, nn.Conv2d)
            }
            exported = dense
        return {
            **{k: float(v) for k, v in kept.items()},
            "flops": float(exported),
            "flops_fraction": exported / dense,
        }

    # ---- Lightning hooks ---------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sparse_forward(x)

    def on_train_start(self) -> None:
        self.method.on_train_start(self.current_epoch)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self._forward_with(self.method.training_weights(), x, self._compiled_forward)
        ce = F.cross_entropy(logits, y)
        loss = ce + self.method.loss()
        self._check_finite(loss)
        self.accuracy["fit"](logits, y)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        self.log("train/ce", ce, on_step=False, on_epoch=True)
        self.log("train/acc", self.accuracy["fit"], on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self.finish_step()

    def finish_step(self) -> None:
        """The method's work after the optimizer step just taken (RVSM: u <- prox(w)), once.

        Callbacks' ``on_train_batch_end`` runs before this module's, so a callback that saves a
        checkpoint mid-epoch calls this first: the checkpoint then holds the finished step.
        """
        if self._finished_step != self.global_step:
            self.method.after_step(self.global_step, self.trainer.estimated_stepping_batches)
            self._finished_step = self.global_step

    def _check_finite(self, loss: torch.Tensor | None = None) -> None:
        """Raise DivergedError if a loss since the last check was NaN or infinite.

        Checked every ``finite_check_every`` steps and (``loss=None``) before every checkpoint.
        When checked every step this stops before the optimizer writes NaN into the weights; in
        any case no checkpoint is written after a non-finite loss.
        """
        if loss is not None:
            finite = torch.isfinite(loss.detach())
            self._loss_finite = finite if self._loss_finite is None else self._loss_finite & finite
            every = self.finite_check_every or (1 if loss.device.type == "cpu" else 50)
            if self.global_step % every:
                return
        if self._loss_finite is None or bool(self._loss_finite):
            return
        what = (
            f"is {loss.item()}"
            if loss is not None and not torch.isfinite(loss)
            else "was nan or inf"
        )
        raise DivergedError(
            f"train/loss {what} at epoch {self.current_epoch}, step {self.global_step} "
            "(try a smaller model.optimizer.lr or method.beta)"
        )

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self._check_finite()  # no checkpoint after a non-finite loss, whichever callback saves

    def on_train_epoch_end(self) -> None:
        self._check_finite()
        for key, value in self.method.epoch_log().items():
            self.log(f"train/{key}", value)
        if self.method.on_epoch_end(self.current_epoch, self.trainer.max_epochs):
            for optimizer in self.trainer.optimizers:  # its moments belong to the old w
                optimizer.state.clear()

    def split_parameters(self) -> list[nn.Parameter]:
        """The trained weight of each split layer (``weight_orig`` once torch's prune wraps it)."""
        return [
            getattr(self.layers[n], "weight_orig", self.layers[n].weight) for n in self.split_layers
        ]

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """The method sees the step size of the split weights' group before every step."""
        split = self.split_parameters()
        for group in optimizer.param_groups:
            if not split or any(p is split[0] for p in group["params"]):
                self.method.before_step(float(group["lr"]))
                return

    def _sparse_and_dense(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits of the evaluated network and of its dense twin (None if the method has none).

        When only the FC layer is split the two share their conv features: one pass, two heads.
        """
        if not self.method.dense_twin:
            return self.sparse_forward(x), None
        if self.split_layers == (self.net.head_name,):
            features = self.net.features(x)
            head = self.layers[self.net.head_name]
            weight = self.method.evaluated_weights()[self.net.head_name]
            return F.linear(features, weight, head.bias), head(features)
        return self.sparse_forward(x), self.net(x)

    def _evaluate(self, batch, stage: str) -> None:
        x, y = batch
        sparse_logits, dense_logits = self._sparse_and_dense(x)
        self.accuracy[f"{stage}_sparse"](sparse_logits, y)
        self.log(f"{stage}/loss", F.cross_entropy(sparse_logits, y), sync_dist=True)
        self.log(f"{stage}/acc", self.accuracy[f"{stage}_sparse"], prog_bar=True)
        if dense_logits is not None:
            self.accuracy[f"{stage}_dense"](dense_logits, y)
            self.log(f"{stage}/acc_dense", self.accuracy[f"{stage}_dense"])

    def _log_sparsity(self, stage: str) -> None:
        for key, value in {**self.sparsity(), **self.channels()}.items():
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
        # a method may give its own parameters their own settings (hard-concrete gates' lr), and
        # the split weights may get their own weight decay
        groups = self.method.param_groups()
        if self.split_weight_decay is not None:
            split = {"params": self.split_parameters(), "weight_decay": self.split_weight_decay}
            groups = [*groups, split]
        own = {id(p) for group in groups for p in group["params"]}
        rest = [p for p in self.parameters() if id(p) not in own]
        optimizer = self.make_optimizer(params=[{"params": rest}, *groups] if groups else rest)
        if self.make_scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.make_scheduler(optimizer=optimizer)}
