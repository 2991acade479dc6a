"""The narrow interface between the LightningModule and a sparsifying method.

The module owns the network, the optimizer and the metrics; a method owns everything that makes
the split layers sparse. It is an ``nn.Module`` so that its buffers (u, masks, beta) and
parameters (gates) are saved in checkpoints and, if it has any, trained by the same optimizer.
A new method is one file here plus one file in ``conf/method/``; its knobs are one settings
object (``Settings``, a frozen dataclass whose fields carry their checks), from which its
validation, ``describe()`` and summary follow, so a new knob is one field and one config line.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from rvsm.methods.structure import LayerSpec
from rvsm.utils.settings import Settings


def state_name(kind: str, layer: str) -> str:
    """The name of a method's per-layer buffer or parameter (``u_fc``): a layer's module path
    (``stages.0.conv1``) with its dots doubled into underscores, which a buffer's name cannot
    hold."""
    return f"{kind}_{layer.replace('.', '__')}"


class SparsityMethod(nn.Module):
    """Base class: dense training of the split layers; subclasses override what they change."""

    name = "base"
    #: the method's settings (its knobs); built from the constructor's keyword arguments
    Settings: type[Settings] = Settings
    #: whether the network being optimized (w) differs from the evaluated (sparse) one, so that
    #: its accuracy is worth reporting as ``*/acc_dense``
    dense_twin = False
    #: the knobs (keys of ``describe()``) always named in a report's label of a setting: what
    #: the method is swept over (default: ``leading_knobs`` and the settings marked ``main``)
    main_knobs: tuple[str, ...] = ()
    #: main knobs that are not settings of the method (RVSM: its penalty's)
    leading_knobs: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "main_knobs" not in cls.__dict__:
            cls.main_knobs = (*cls.leading_knobs, *cls.Settings.labels("main"))

    def __init__(self, **knobs) -> None:
        """``knobs``: the fields of ``Settings``, checked here (an unknown one refused)."""
        super().__init__()
        self.settings = self.Settings.from_knobs(knobs)

    def bind(
        self, layers: Mapping[str, nn.Module], specs: Mapping[str, LayerSpec] | None = None
    ) -> None:
        """Called once with the split layers, by name, and what is known of their shapes,
        before any training or loading."""
        self.layers = dict(layers)
        self.specs = dict(specs or {})

    def summary(self) -> dict:
        """The settings named in a run's one-line summary (those that are set): the main knobs
        and those marked ``summary``, in the order ``describe()`` gives them."""
        keys = {*self.main_knobs, *self.Settings.labels("summary")}
        return {k: v for k, v in self.describe().items() if k in keys and v is not None}

    def training_weights(self) -> dict[str, torch.Tensor]:
        """Weights the training forward uses in place of some split layers' own (by layer)."""
        return {}

    def loss(self) -> torch.Tensor:
        """The term added to the classification loss."""
        return next(iter(self.layers.values())).weight.new_zeros(())

    def param_groups(self) -> list[dict]:
        """Extra optimizer parameter groups (e.g. gates with their own lr); none by default."""
        return []

    def on_train_start(self, epochs_done: int) -> None:
        """Called when training starts, or resumes after ``epochs_done`` epochs (state restored)."""

    def before_step(self, lr: float) -> None:
        """Called after the backward pass and before every optimizer step, with the step size
        ``lr`` of the split layers' parameter group."""

    def after_step(self, step: int, total_steps: int) -> None:
        """Called after every optimizer step; ``step`` steps of ``total_steps`` are done."""

    def on_epoch_end(self, epoch: int, max_epochs: int) -> bool:
        """Called after epoch ``epoch`` (0-based) and its validation, before its checkpoint.
        Returns whether the optimizer's state should be reset (its moments belong to weights
        that just jumped)."""
        return False

    def evaluated_weights(self) -> dict[str, torch.Tensor]:
        """Each split layer's weight as the evaluated (sparse) network uses it."""
        return {name: layer.weight for name, layer in self.layers.items()}

    def epoch_log(self) -> dict[str, float]:
        """Values logged as ``train/<key>`` at each epoch end (before ``on_epoch_end``)."""
        return {}

    def describe(self) -> dict:
        """The settings that identify this method in ``metrics.json`` and reports."""
        return {"method": self.name, **self.settings.described()}
