"""L0 regularisation with hard-concrete gates (Louizos, Welling & Kingma, ICLR 2018).

Every weight w of the split layers gets a gate with a learned ``log_alpha`` (formulas in
``rvsm.methods.gates``). Training uses w * z with z sampled once per step (shared by the batch)
and adds ``lam`` times the expected number of open gates to the loss; the gates and the weights are
trained together by the same optimizer, the gates with their own learning rate ``gate_lr`` if set
(they have to travel from ``init_log_alpha`` to below -2.4 within the training budget). The
evaluated network uses w * z with the deterministic test-time gate, whose zeros are exact, so the
sparsity is the fraction of exactly-zero gated weights. The trained network is the gated one, so
there is no dense twin (w alone was never trained to work without its gates).

The gate noise of step t is drawn from a generator seeded by (seed, t), so a resumed run draws
the same gates as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from rvsm.methods.base import SparsityMethod, state_name
from rvsm.methods.gates import deterministic_gates, expected_l0, sample_gates
from rvsm.methods.sparsity import zero_fraction
from rvsm.methods.structure import LayerSpec
from rvsm.utils.arguments import non_negative, number, optional, positive
from rvsm.utils.settings import Settings, knob


@dataclass(frozen=True)
class HardConcreteSettings(Settings):
    """The gates' knobs (``method.*`` of conf/method/hardconcrete.yaml)."""

    lam: float = knob(1e-4, non_negative, "a number >= 0", main=True)
    init_log_alpha: float = knob(2.0, number, "a finite number")
    gate_lr: float | None = knob(None, optional(positive), "a number > 0 (or null)")


class HardConcrete(SparsityMethod):
    name = "hardconcrete"
    dense_twin = False
    Settings = HardConcreteSettings

    def __init__(self, **knobs) -> None:
        super().__init__(**knobs)
        # steps done and the noise seed (the process's torch seed, i.e. `seed`), checkpointed
        self.register_buffer("steps_done", torch.tensor(0, dtype=torch.int64))
        self.register_buffer("noise_seed", torch.tensor(torch.initial_seed() % 2**30))
        self._generator: torch.Generator | None = None
        self._step: int | None = None  # host copy of steps_done (no device sync per step)

    def bind(
        self, layers: Mapping[str, nn.Module], specs: Mapping[str, LayerSpec] | None = None
    ) -> None:
        super().bind(layers, specs)
        for name, layer in self.layers.items():
            log_alpha = torch.full_like(layer.weight.detach(), self.settings.init_log_alpha)
            self.register_parameter(state_name("log_alpha", name), nn.Parameter(log_alpha))

    def log_alpha(self, layer: str) -> torch.Tensor:
        return getattr(self, state_name("log_alpha", layer))

    def param_groups(self) -> list[dict]:
        """Optimizer parameter groups of the gates (none: they train like the weights)."""
        if self.settings.gate_lr is None:
            return []
        return [{"params": [self.log_alpha(n) for n in self.layers], "lr": self.settings.gate_lr}]

    # ---- training --------------------------------------------------------------------------
    def _noise(self) -> torch.Generator:
        device = next(iter(self.layers.values())).weight.device
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device)
        if self._step is None:
            self._step = int(self.steps_done)
        self._generator.manual_seed((int(self.noise_seed) << 32) + self._step)
        return self._generator

    def training_weights(self) -> dict[str, torch.Tensor]:
        generator = self._noise()
        return {
            name: layer.weight * sample_gates(self.log_alpha(name), generator)
            for name, layer in self.layers.items()
        }

    def loss(self) -> torch.Tensor:
        return self.settings.lam * sum(expected_l0(self.log_alpha(n)) for n in self.layers)

    def on_train_start(self, epochs_done: int) -> None:
        self._step = None  # read from the (possibly restored) buffer at the next step

    def after_step(self, step: int, total_steps: int) -> None:
        self._step = step
        self.steps_done.fill_(step)

    # ---- evaluation ------------------------------------------------------------------------
    def evaluated_weights(self) -> dict[str, torch.Tensor]:
        return {
            name: layer.weight * deterministic_gates(self.log_alpha(name))
            for name, layer in self.layers.items()
        }

    @torch.no_grad()
    def epoch_log(self) -> dict[str, float]:
        n = sum(self.log_alpha(name).numel() for name in self.layers)
        gates = [deterministic_gates(self.log_alpha(k)) for k in self.layers]
        expected = sum(float(expected_l0(self.log_alpha(k))) for k in self.layers)
        return {"gates_closed": zero_fraction(gates), "expected_open": expected / n}
