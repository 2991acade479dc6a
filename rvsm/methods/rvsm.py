"""RVSM, the Relaxed Variable Splitting Method: the whole step and its schedules are here.

Objective:                   f(w) + lam P(u) + beta/2 * sum_layers ||w - u||^2
After every optimizer step:  u <- prox(w; lam/beta)  (or, with ``target_sparsity``, the largest
                             |w| of each layer: an l0 constraint that tightens on a schedule)
The evaluated network uses u in the split layers; w is the dense twin.

How w is pulled towards u (``coupling``, rvsm/methods/coupling.py): ``gradient`` puts
beta/2 ||w - u||^2 in the loss, so the pull goes through the optimizer; ``decoupled`` applies it
to w outside the optimizer, once per step of size eta (``decoupled_form``: ``proximal``, after
the step, w <- (w + eta beta u) / (1 + eta beta), or ``explicit``, the authors' code, before
the step, w <- w - eta beta (w - u)).

Schedules that bring w onto u (``method.*``), applied at each epoch end after validation:
- ``beta_growth`` multiplies beta (capped at ``beta_max``), pulling w ever closer to u. With
  ``keep_threshold`` lam grows with beta, so the prox threshold stays where the user put it;
  otherwise the threshold sqrt(2 lam / beta) (l0) shrinks as beta grows.
- ``sync_every_epoch`` copies u into w (the authors' group code does this as ``replace_weight``),
  and with ``reset_optimizer_on_sync`` the optimizer's moments restart there (the authors
  re-create their optimizer every epoch), since they belong to the w that just jumped.
- ``finetune_epochs``: the last N epochs train with u's support fixed: w <- u, pruned weights stay
  exactly zero in w and u, survivors keep training and u = w, so the evaluated network is the
  trained one (the retraining phase of ADMM pruning).
- ``target_sparsity`` s (null: off): u keeps the largest-|w| fraction 1 - s_t of each layer, s_t
  following gmp's cubic schedule from ``target_start`` to ``target_end`` (fractions of the
  steps), so the sparsity reached is exactly s on every seed; the penalty is then not used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from rvsm.methods.base import SparsityMethod, state_name
from rvsm.methods.constraints import keep_largest
from rvsm.methods.coupling import COUPLINGS, DECOUPLED_FORMS, explicit_pull, proximal_pull
from rvsm.methods.penalties import Penalty
from rvsm.methods.schedules import cubic_sparsity, grown_beta, step_window
from rvsm.methods.structure import LayerSpec
from rvsm.utils.arguments import flag, integer, number, optional, positive, require
from rvsm.utils.settings import Settings, knob


@dataclass(frozen=True)
class RVSMSettings(Settings):
    """RVSM's knobs (``method.*`` of conf/method/rvsm.yaml); the penalty is its own part."""

    target_sparsity: float | None = knob(
        None,
        optional(lambda v: number(v) and 0 < v < 1),
        "a fraction in (0, 1) (or null: off)",
        main=True,
    )
    beta: float = knob(0.1, positive, "a number > 0", summary=True)
    beta_growth: float = knob(1.0, positive, "a number > 0 (1.0 = fixed)")
    beta_max: float | None = knob(None, optional(positive), "a number > 0 (or null)")
    keep_threshold: bool = knob(True, flag, "true or false")
    sync_every_epoch: bool = knob(False, flag, "true or false")
    finetune_epochs: int = knob(0, lambda v: integer(v) and v >= 0, "an integer >= 0")
    coupling: str = knob("gradient", lambda v: v in COUPLINGS, f"one of {COUPLINGS}")
    decoupled_form: str = knob(
        "proximal", lambda v: v in DECOUPLED_FORMS, f"one of {DECOUPLED_FORMS}"
    )
    reset_optimizer_on_sync: bool = knob(False, flag, "true or false")
    target_start: float = knob(0.1, lambda v: number(v) and 0 <= v <= 1, "a number in [0, 1]")
    target_end: float = knob(0.6, lambda v: number(v) and 0 <= v <= 1, "a number in [0, 1]")
    #: the run's ``trainer.max_epochs``, which the finetune phase must fit in (None: unchecked)
    max_epochs: int | None = knob(None, described=False)

    def check(self) -> None:
        if self.beta_max is not None:
            require(
                "beta_max",
                self.beta_max,
                self.beta_max >= self.beta,
                f"a number >= beta ({self.beta}) (or null)",
            )
        bounded = self.max_epochs not in (None, -1)
        if bounded and self.finetune_epochs:
            require(
                "finetune_epochs",
                self.finetune_epochs,
                self.finetune_epochs < self.max_epochs,
                f"< the run's epochs ({self.max_epochs}) (for a run this short: 0)",
            )
        require(
            "target_end",
            self.target_end,
            self.target_end >= self.target_start,
            f"a number in [target_start ({self.target_start}), 1]",
        )
        if self.target_sparsity is not None and self.finetune_epochs and bounded:
            phase = (self.max_epochs - self.finetune_epochs) / self.max_epochs
            require(
                "target_end",
                self.target_end,
                self.target_end <= phase,
                f"<= {phase:.3g}, where the finetune phase fixes the support (the target would "
                "not be reached)",
            )

    def described(self) -> dict:
        out = super().described()
        if self.coupling != "decoupled":
            out["decoupled_form"] = None  # not used
        if self.target_sparsity is None:  # the schedule of a target that is off
            del out["target_start"], out["target_end"]
        return out


class RVSM(SparsityMethod):
    name = "rvsm"
    dense_twin = True
    Settings = RVSMSettings
    takes_penalty = True  # built with the `penalty` group's penalty (rvsm.runtime.build)
    leading_knobs = ("penalty", "lam", "a")  # the penalty's

    def __init__(self, penalty: Penalty, **knobs) -> None:
        """``penalty``: the prox of the u-step (not used under ``target_sparsity``); ``knobs``:
        the fields of ``RVSMSettings``."""
        super().__init__(**knobs)
        self.penalty = penalty
        self._eta: float | None = None  # the step size of the step being taken (decoupled)
        # schedule state, saved in checkpoints with u and the finetune masks
        self.register_buffer("beta", torch.tensor(float(self.settings.beta), dtype=torch.float64))
        self.register_buffer("finetuning", torch.tensor(False))

    def bind(
        self, layers: Mapping[str, nn.Module], specs: Mapping[str, LayerSpec] | None = None
    ) -> None:
        super().bind(layers, specs)
        for name, layer in self.layers.items():
            w = layer.weight.detach()
            self.register_buffer(state_name("u", name), self.project(name, w, 0.0))
            self.register_buffer(state_name("mask", name), torch.ones_like(w, dtype=torch.bool))

    # ---- the pieces of the step ----------------------------------------------------------
    def u(self, layer: str) -> torch.Tensor:
        return getattr(self, state_name("u", layer))

    def mask(self, layer: str) -> torch.Tensor:
        return getattr(self, state_name("mask", layer))

    @property
    def prox_beta(self) -> float:
        """The beta the prox sees: lam / prox_beta fixes the threshold (see keep_threshold)."""
        return self.settings.beta if self.settings.keep_threshold else float(self.beta)

    def scheduled_beta(self, epochs_done: int) -> float:
        """beta after ``epochs_done`` epochs of its growth schedule."""
        s = self.settings
        return grown_beta(s.beta, s.beta_growth, s.beta_max, epochs_done)

    def goal(self, step: int, total_steps: int | float) -> float:
        """The sparsity s_t the constrained u-step keeps after ``step`` steps."""
        t0, t1 = step_window(self.settings.target_start, self.settings.target_end, total_steps)
        return cubic_sparsity(step, self.settings.target_sparsity, t0, t1)

    def project(self, layer: str, w: torch.Tensor, goal: float) -> torch.Tensor:
        """u for weights w: the penalty's prox, or the largest |w| at sparsity ``goal``."""
        if self.settings.target_sparsity is not None:
            return keep_largest(w, goal)
        return self.penalty.prox(w, self.prox_beta, self.specs.get(layer))

    def split_gap(self) -> torch.Tensor:
        """sum over split layers of ||w - u||^2 (u is a buffer, so no gradient flows into it)."""
        return sum(
            (layer.weight - self.u(name)).pow(2).sum() for name, layer in self.layers.items()
        )

    def loss(self) -> torch.Tensor:
        if self.settings.coupling != "gradient":
            return super().loss()
        return 0.5 * float(self.beta) * self.split_gap()

    @torch.no_grad()
    def refresh_u(self, step: int = 0, total_steps: int | float = 1) -> None:
        """The splitting step: u <- prox(w) (element-wise, or grouped as the penalty reads the
        layer's spec) or the constrained projection; in the finetune phase u <- w on the fixed
        support (pruned weights are put back to exactly zero after the optimizer step)."""
        goal = self.goal(step, total_steps) if self.settings.target_sparsity is not None else 0.0
        for name, layer in self.layers.items():
            if self.finetuning:
                layer.weight.mul_(self.mask(name))
                self.u(name).copy_(layer.weight)
            else:
                self.u(name).copy_(self.project(name, layer.weight, goal))

    @torch.no_grad()
    def sync(self) -> None:
        """w <- u on the split layers."""
        for name, layer in self.layers.items():
            layer.weight.copy_(self.u(name))

    # ---- hooks ---------------------------------------------------------------------------
    def on_train_start(self, epochs_done: int) -> None:
        """beta follows from the settings and the epochs done, so a resumed run continues the
        schedule (u, masks and phase come from the checkpoint); a changed beta on
        resume takes effect."""
        self.beta.fill_(
            grown_beta(
                self.settings.beta, self.settings.beta_growth, self.settings.beta_max, epochs_done
            )
        )

    def before_step(self, lr: float) -> None:
        """The decoupled pull's step size; the explicit form pulls now, before the step."""
        self._eta = lr
        if self.settings.coupling == "decoupled" and self.settings.decoupled_form == "explicit":
            for name, layer in self.layers.items():
                explicit_pull(layer.weight, self.u(name), lr, float(self.beta))

    def after_step(self, step: int, total_steps: int) -> None:
        if self.settings.coupling == "decoupled" and self.settings.decoupled_form == "proximal":
            if self._eta is None:
                raise RuntimeError("the decoupled pull needs before_step(lr) before each step")
            for name, layer in self.layers.items():
                proximal_pull(layer.weight, self.u(name), self._eta, float(self.beta))
        self.refresh_u(step, total_steps)

    @torch.no_grad()
    def on_epoch_end(self, epoch: int, max_epochs: int) -> bool:
        jumped = False
        if (
            self.settings.finetune_epochs
            and epoch + 1 == max_epochs - self.settings.finetune_epochs
        ):
            for name in self.layers:
                self.mask(name).copy_(self.u(name) != 0)
            self.finetuning.fill_(True)
            self.sync()
            jumped = True
        elif self.settings.sync_every_epoch and not self.finetuning:
            self.sync()
            jumped = True
        self.beta.fill_(
            grown_beta(
                self.settings.beta, self.settings.beta_growth, self.settings.beta_max, epoch + 1
            )
        )
        return jumped and self.settings.reset_optimizer_on_sync

    def evaluated_weights(self) -> dict[str, torch.Tensor]:
        return {name: self.u(name) for name in self.layers}

    def epoch_log(self) -> dict[str, float]:
        log = {"beta": float(self.beta), "w_minus_u": float(self.split_gap().detach().sqrt())}
        if self.settings.target_sparsity is None:
            log["threshold"] = self.penalty.threshold(self.prox_beta)
        return log

    def describe(self) -> dict:
        if self.settings.target_sparsity is None:
            penalty = self.penalty.describe()
        else:  # the constraint replaces the penalty
            penalty = {"penalty": "l0_constraint", "lam": None, "a": None}
        return {"method": self.name, **penalty, **self.settings.described()}
