"""RVSM's variants and ADMM, each step against its formula computed here: the decoupled pull in
both forms, the l0 constraint on its cubic schedule, ADMM's projection and scaled dual, the
optimizer reset; the authors' recipe as a preset; resume mid-schedule; refusals."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from rvsm.methods.admm import ADMM
from rvsm.methods.penalties import L0
from rvsm.methods.rvsm import RVSM
from rvsm.module import SparseModule
from rvsm.runtime.build import build_method
from rvsm.runtime.checks import CONF_DIR
from tests.helpers import (
    ANY_METHOD,
    BETA,
    assert_same_numbers,
    fit,
    make_module,
    tiny_module,
    whole_and_resumed,
)

LR = 0.5  # make_module's plain SGD


class FirstStep(L.Callback):
    """w, u and the gradient of f before the first optimizer step, w after it."""

    def __init__(self, layer: str) -> None:
        self.layer, self.seen = layer, {}

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if batch_idx == 0:
            self.seen["w0"] = module.layers[self.layer].weight.detach().clone()
            self.seen["u0"] = module.method.u(self.layer).clone()
        elif batch_idx == 1:
            self.seen["w1"] = module.layers[self.layer].weight.detach().clone()

    def on_before_optimizer_step(self, trainer, module, optimizer):
        if "g" not in self.seen:
            self.seen["g"] = module.layers[self.layer].weight.grad.detach().clone()


@pytest.mark.parametrize("form", ["explicit", "proximal"])
def test_decoupled_pull_is_the_formula_of_one_step_by_hand(form):
    module = make_module(L0(1e-3), layers=("fc",), coupling="decoupled", decoupled_form=form)
    step = FirstStep("fc")
    fit(module, [step])
    w0, u0, g = step.seen["w0"].double(), step.seen["u0"].double(), step.seen["g"].double()
    if form == "explicit":  # before the step, then plain SGD on f alone
        expected = w0 - LR * BETA * (w0 - u0) - LR * g
    else:  # plain SGD on f, then the exact prox of the pull
        expected = (w0 - LR * g + LR * BETA * u0) / (1 + LR * BETA)
    assert not torch.allclose(expected, w0 - LR * g, atol=1e-5)  # the pull did something
    torch.testing.assert_close(step.seen["w1"].double(), expected, atol=1e-6, rtol=0)


class EveryStep(L.Callback):
    """(step, w, u) after every optimizer step and u-step (read at the next batch's start)."""

    def __init__(self, method_state) -> None:
        self.records, self.state = [], method_state

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step > 0:
            self.records.append((trainer.global_step, *self.state(module)))

    def on_train_epoch_end(self, trainer, module):
        self.records.append((trainer.global_step, *self.state(module)))


def cubic(step: int, final: float, t0: int, t1: int) -> float:
    if step >= t1:
        return final
    return 0.0 if step <= t0 else final * (1 - (1 - (step - t0) / (t1 - t0)) ** 3)


def test_target_sparsity_is_exact_after_every_u_step_and_follows_the_cubic_schedule():
    target, start, end, epochs = 0.8, 0.2, 0.7, 3
    module = make_module(L0(1e-3), target_sparsity=target, target_start=start, target_end=end)

    def state(m):
        w = {n: m.layers[n].weight.detach().clone() for n in m.split_layers}
        return w, {n: m.method.u(n).clone() for n in m.split_layers}

    record = EveryStep(state)
    fit(module, [record], max_epochs=epochs)
    total = 3 * epochs  # tiny_loader: 48 images in batches of 16
    t0, t1 = round(start * total), round(end * total)
    assert len(record.records) >= total
    goals = set()
    for step, w, u in record.records:
        goal = cubic(step, target, t0, t1)
        goals.add(round(goal, 6))
        for name in u:
            n = u[name].numel()
            assert int((u[name] == 0).sum()) == round(goal * n), (step, name)
            kept, dropped = w[name][u[name] != 0].abs(), w[name][u[name] == 0].abs()
            if len(kept) and len(dropped):  # the kept weights are the largest |w|
                assert kept.min() >= dropped.max()
            torch.testing.assert_close(u[name][u[name] != 0], w[name][u[name] != 0])
    assert len(goals) >= 4 and max(goals) == target  # it grew in steps to the target
    sizes = [module.layers[n].weight.numel() for n in module.split_layers]
    expected = sum(round(target * n) for n in sizes) / sum(sizes)
    assert module.sparsity()["sparsity"] == pytest.approx(expected, abs=1e-12)


def topk_by_hand(x: np.ndarray, sparsity: float) -> np.ndarray:
    k = x.size - round(sparsity * x.size)
    keep = np.argsort(-np.abs(x.ravel()), kind="stable")[:k]
    out = np.zeros(x.size)
    out[keep] = x.ravel()[keep]
    return out.reshape(x.shape)


def admm_module(**kw) -> SparseModule:
    method = ADMM(
        **{
            "sparsity": 0.75,
            "rho": 0.5,
            "rho_growth": 1.3,
            "update_every_steps": 1,
            "retrain_epochs": 1,
            "max_epochs": 3,
            **kw,
        }
    )
    return tiny_module(method, ("conv3", "fc"), LR)


def test_admm_projection_and_scaled_dual_follow_the_formulas_then_prune_and_retrain():
    module = admm_module()

    def state(m):
        names = m.split_layers
        return (
            {n: m.layers[n].weight.detach().double().clone() for n in names},
            {n: m.method.u(n).double().clone() for n in names},
            {n: m.method.dual(n).double().clone() for n in names},
            float(m.method.rho),
            bool(m.method.pruned),
        )

    record = EveryStep(state)
    fit(module, [record], max_epochs=3)
    checked = 0
    for (step0, _, _, dual0, rho0, pruned0), (step1, w1, u1, dual1, rho1, pruned1) in zip(
        record.records, record.records[1:], strict=False
    ):
        if pruned0 or pruned1 or step1 != step0 + 1:  # one ADMM iteration between the two
            continue
        for name in w1:
            expected_u = topk_by_hand((w1[name] + dual0[name]).numpy(), 0.75)
            np.testing.assert_allclose(u1[name].numpy(), expected_u, atol=1e-6)
            np.testing.assert_allclose(
                dual1[name].numpy(), (dual0[name] + w1[name] - u1[name]).numpy(), atol=1e-6
            )
        assert rho1 == pytest.approx(rho0 * 1.3)
        checked += 1
    assert checked >= 4
    # the hard prune before the last epoch; retraining keeps the mask: exactly 75% zeros
    assert bool(module.method.pruned)
    for name in ("conv3", "fc"):
        w = module.layers[name].weight.detach()
        assert int((w == 0).sum()) == round(0.75 * w.numel())
        assert torch.equal(w != 0, module.method.mask(name))
    assert module.sparsity()["sparsity_fc"] == pytest.approx(0.75, abs=1e-2)


def test_the_optimizer_state_is_reset_when_w_jumps_to_u():
    """SGD's momentum buffers are cleared at each sync when asked, and kept otherwise."""

    def momentum_after_each_epoch(reset: bool) -> list[bool]:
        torch.manual_seed(0)
        method = RVSM(L0(1e-3), beta=BETA, sync_every_epoch=True, reset_optimizer_on_sync=reset)
        sgd = {"_target_": "torch.optim.SGD", "momentum": 0.9}
        module = tiny_module(method, ("fc",), 0.1, sgd)
        seen = []

        class Probe(L.Callback):
            def on_train_epoch_start(self, trainer, pl_module):
                seen.append(bool(trainer.optimizers[0].state))

        fit(module, [Probe()], max_epochs=3)
        return seen

    assert momentum_after_each_epoch(reset=True) == [False, False, False]
    assert momentum_after_each_epoch(reset=False) == [False, True, True]


def test_authors_preset_composes_to_sgd_decoupled_explicit_and_constant_beta():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=authors_rvsm"])
    optimizer = instantiate(cfg.model.optimizer)([torch.nn.Parameter(torch.zeros(1))])
    assert isinstance(optimizer, torch.optim.SGD)
    group = optimizer.param_groups[0]
    assert group["momentum"] == 0.9 and group["nesterov"] and group["weight_decay"] == 5e-4
    assert cfg.model.split_weight_decay == 0.0 and cfg.model.scheduler._target_.endswith("step_lr")
    s = build_method(cfg.method, cfg.penalty).settings
    assert (s.coupling, s.decoupled_form) == ("decoupled", "explicit")
    assert s.beta_growth == 1.0 and s.beta == 0.01 and s.reset_optimizer_on_sync
    assert s.sync_every_epoch and s.finetune_epochs == 0


def test_split_weights_get_their_own_weight_decay():
    module = make_module(L0(1e-3), layers=("fc",))
    module.split_weight_decay = 0.0
    module.make_optimizer = lambda params: torch.optim.SGD(params, lr=0.1, weight_decay=5e-4)
    groups = module.configure_optimizers().param_groups
    assert [g["weight_decay"] for g in groups] == [5e-4, 0.0]
    assert groups[1]["params"] == [module.layers["fc"].weight]


# Deterministic CPU runs of 3 epochs; stopped after epoch 1 (mid-schedule), then resumed.
RESUMED = [*ANY_METHOD, "data.n_pairs={train:200,val:32,test:32}", "trainer.max_epochs=3"]
RESUMED += ["trainer.deterministic=true"]  # RVSM's default: the last epoch fine-tunes
VARIANTS = {
    "admm-dual": [
        "method=admm",
        "method.sparsity=0.9",
        "method.update_every_steps=3",
        "method.retrain_epochs=1",
    ],
    "target-schedule": ["method.target_sparsity=0.9"],
    "decoupled-reset": [
        "method.coupling=decoupled",
        "method.reset_optimizer_on_sync=true",
        "model/optimizer=sgd",
        "model/scheduler=step",
    ],
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_resume_mid_schedule_of_each_new_state_equals_an_uninterrupted_run(
    tmp_path, cache_dir, variant
):
    a, b = whole_and_resumed([*RESUMED, *VARIANTS[variant]], tmp_path, cache_dir)
    assert_same_numbers(a, b)
    if variant != "decoupled-reset":  # the exact-sparsity variants end at their target
        assert a["test/sparsity_fc"] == pytest.approx(0.9, abs=1e-3)
