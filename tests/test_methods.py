"""Gradual magnitude pruning and hard-concrete L0 gates: their math against formulas written out
here, their behaviour in a real Trainer, and through the CLI a multirun of all three methods with
its report and a gmp run resumed mid-schedule."""

from __future__ import annotations

import copy
import csv
import json
import math

import lightning as L
import pytest
import torch

from rvsm.methods.gates import (
    GAMMA,
    ZETA,
    B,
    deterministic_gates,
    expected_l0,
    prob_open,
    sample_gates,
)
from rvsm.methods.gmp import GMP
from rvsm.methods.hardconcrete import HardConcrete
from rvsm.methods.schedules import cubic_sparsity
from rvsm.module import SparseModule
from rvsm.nets import TremorCNN
from tests.helpers import (
    ANY_METHOD,
    assert_same_numbers,
    fit,
    metrics_of,
    run_cli,
    tiny_module,
    wandb_history_keys,
    wandb_records,
    whole_and_resumed,
)


def make_module(method, lr: float = 0.5, optimizer: str = "torch.optim.SGD") -> SparseModule:
    return tiny_module(method, ("fc",), lr, optimizer)  # fc: 2 x 64 = 128 weights


class AfterEachStep(L.Callback):
    """The method's state after each optimizer step and method step (callbacks' batch-end hook
    runs before the module's, so it is read at the next batch start and at the epoch end)."""

    def __init__(self, read) -> None:
        self.read, self.states = read, []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if batch_idx > 0:
            self.states.append((trainer.global_step, self.read(module)))

    def on_train_epoch_end(self, trainer, module):
        self.states.append((trainer.global_step, self.read(module)))


# ---- gradual magnitude pruning ------------------------------------------------------------------
def test_cubic_sparsity_follows_the_zhu_gupta_formula():
    t0, t1, final = 10, 110, 0.9
    for t in (0, 5, 10, 11, 35, 60, 85, 109, 110, 500):
        progress = min(max((t - t0) / (t1 - t0), 0.0), 1.0)
        expected = final + (0.0 - final) * (1.0 - progress) ** 3  # s_f + (s_i - s_f)(1 - p)^3
        assert cubic_sparsity(t, final, t0, t1) == pytest.approx(expected, abs=1e-12), t
    assert cubic_sparsity(60, 0.9, 10, 110) == pytest.approx(0.9 * (1 - 0.5**3))  # 0.7875
    assert cubic_sparsity(49, 0.9, 50, 50) == 0.0 and cubic_sparsity(50, 0.9, 50, 50) == 0.9


def test_gmp_prunes_smallest_kept_weights_on_schedule_then_fine_tunes_with_mask_fixed():
    method = GMP(sparsity=0.9, start=0.1, end=0.7, every_steps=3)
    module = make_module(method)
    fc = module.layers["fc"]
    recorder = AfterEachStep(
        lambda m: (fc.weight_mask.detach().clone(), fc.weight_orig.detach().clone())
    )
    fit(module, [recorder], max_epochs=6)  # 3 batches an epoch: 18 steps
    total, n = 18, fc.weight_orig.numel()
    t0, t1 = round(0.1 * total), round(0.7 * total)  # 2 and 13
    updates = [t for t in range(1, total + 1) if t == t1 or (t0 <= t < t1 and (t - t0) % 3 == 0)]
    assert updates == [2, 5, 8, 11, 13]
    steps = [step for step, _ in recorder.states]
    assert steps == list(range(1, total + 1))
    previous = torch.ones_like(fc.weight_mask)
    for step, (mask, weight) in recorder.states:
        last = max((t for t in updates if t <= step), default=None)
        fraction = 0.0 if last is None else 0.9 * (1 - (1 - (last - t0) / (t1 - t0)) ** 3)
        assert int((mask == 0).sum()) == round(fraction * n), step
        assert torch.all(mask <= previous), "a pruned weight came back"
        new = (previous == 1) & (mask == 0)
        if new.any():  # the new zeros are the smallest magnitudes among the weights kept before
            assert weight[new].abs().max() <= weight[mask == 1].abs().min()
        previous = mask
    # after t1 the mask is fixed while the kept weights keep training
    (_, (mask_t1, w_t1)), (_, (mask_end, w_end)) = recorder.states[t1 - 1], recorder.states[-1]
    assert torch.equal(mask_t1, mask_end) and not torch.equal(w_t1, w_end)
    # the final sparsity is exact, and its zeros are zeros of the evaluated weights
    assert module.sparsity()["sparsity_fc"] == round(0.9 * n) / n
    evaluated = module.method.evaluated_weights()["fc"]
    assert torch.equal(evaluated == 0, mask_end == 0)


def test_gmp_refuses_bad_settings():
    with pytest.raises(ValueError, match="^sparsity must"):
        GMP(sparsity=1.0)
    with pytest.raises(ValueError, match="^end must be >= start"):
        GMP(start=0.8, end=0.5)
    with pytest.raises(ValueError, match="^every_steps must"):
        GMP(every_steps=0)


def test_gmp_channels_prunes_the_filters_of_smallest_l1_norm_and_slims_to_the_kept_widths():
    """Filter pruning (Li et al. 2017): half the filters of each conv layer at one step, those of
    smallest l1 norm at that step; the rebuilt network has the widths of one built by hand."""
    from rvsm.export import script, standalone
    from rvsm.slim import flops, slim

    method = GMP(sparsity=0.5, start=0.5, end=0.5, structure="channels")
    module = tiny_module(method, ("conv1", "conv2", "conv3"), channels=(8, 8, 8))
    convs = [module.layers[n] for n in ("conv1", "conv2", "conv3")]
    recorder = AfterEachStep(
        lambda m: [(c.weight_mask.clone(), c.weight_orig.clone()) for c in convs]
    )
    fit(module, [recorder], max_epochs=4)  # 12 steps, filters pruned at step 6
    states = dict(recorder.states)
    for (mask, weight), (mask_before, _) in zip(states[6], states[5], strict=True):
        assert mask_before.all()
        pruned = torch.nonzero(~mask.flatten(1).any(dim=1)).flatten().tolist()
        assert pruned == sorted(weight.abs().sum(dim=(1, 2, 3)).argsort()[:4].tolist())
        assert mask.flatten(1).all(dim=1).sum() == 4  # the others are kept whole
    assert torch.equal(states[12][0][0], states[6][0][0])  # then fixed
    module.eval()
    metrics = module.channels()
    assert [metrics[f"channels_conv{k}"] for k in (1, 2, 3)] == [4.0, 4.0, 4.0]
    by_hand = TremorCNN(image_size=(16, 32), channels=(4, 4, 4))
    assert metrics["flops_fraction"] == flops(by_hand, (16, 32)) / flops(
        TremorCNN(image_size=(16, 32), channels=(8, 8, 8)), (16, 32)
    )
    x = torch.rand(4, 1, 16, 32)
    with torch.no_grad():
        small = slim(module.net, module.evaluated_weights())
        torch.testing.assert_close(small(x), module(x), atol=1e-5, rtol=0)
        # both networks the export writes, though prune's computed weights cannot be deep-copied
        for exported in (standalone(module), standalone(module, compressed=False)):
            torch.testing.assert_close(exported(x), module(x), atol=1e-5, rtol=0)
            traced = script(exported, [16, 32])  # as the export writes it (fixed maps and all)
            torch.testing.assert_close(traced(x), module(x), atol=1e-5, rtol=0)


def test_gmp_channels_refuses_a_layer_without_filters_and_an_unknown_structure():
    with pytest.raises(ValueError, match=r"^splitting.layers must be conv layers only"):
        make_module(GMP(structure="channels"))
    with pytest.raises(ValueError, match=r"^structure must be weights or channels"):
        GMP(structure="filters")


# ---- hard-concrete gates ------------------------------------------------------------------------
LOG_ALPHAS = [-4.0, -2.0, 0.0, 1.0, 3.0]


def test_expected_l0_is_the_probability_that_each_gate_is_nonzero():
    """Closed form written out via the logistic CDF, and a Monte-Carlo estimate of P(z > 0)."""
    log_alpha = torch.tensor(LOG_ALPHAS, dtype=torch.float64)
    # z > 0  <=>  s > -gamma / (zeta - gamma)  <=>  logistic noise L > b logit(-gamma/(zeta-gamma))
    # - log_alpha, and P(L > x) = 1 - 1 / (1 + exp(-x))
    c = -GAMMA / (ZETA - GAMMA)
    x = [B * math.log(c / (1 - c)) - la for la in LOG_ALPHAS]
    closed = [1.0 - 1.0 / (1.0 + math.exp(-v)) for v in x]
    assert prob_open(log_alpha).tolist() == pytest.approx(closed, abs=1e-12)
    assert float(expected_l0(log_alpha)) == pytest.approx(sum(closed), abs=1e-12)
    # Monte-Carlo: N samples per gate; a miss of 5 standard errors has probability < 1e-6
    n = 200_000
    gen = torch.Generator().manual_seed(0)
    z = sample_gates(log_alpha.repeat(n, 1), gen)
    assert float(z.min()) == 0.0 and float(z.max()) == 1.0  # hard zeros and ones
    for j, p in enumerate(closed):
        estimate = float((z[:, j] > 0).double().mean())
        assert abs(estimate - p) < 5 * math.sqrt(p * (1 - p) / n) + 1e-9, LOG_ALPHAS[j]
    # P(z = 1) as well: s > (1 - gamma) / (zeta - gamma)
    d = (1 - GAMMA) / (ZETA - GAMMA)
    for j, la in enumerate(LOG_ALPHAS):
        p_one = 1.0 - 1.0 / (1.0 + math.exp(-(B * math.log(d / (1 - d)) - la)))
        estimate = float((z[:, j] == 1).double().mean())
        assert abs(estimate - p_one) < 5 * math.sqrt(p_one * (1 - p_one) / n) + 1e-9, la


def test_test_time_gate_formula_and_its_exact_zeros():
    edge = math.log(-GAMMA / ZETA)  # sigmoid(edge) (zeta - gamma) + gamma = 0
    log_alpha = torch.tensor([edge - 1e-3, edge + 1e-3, 0.0, 4.0], dtype=torch.float64)
    z = deterministic_gates(log_alpha)
    s = [1 / (1 + math.exp(-v)) for v in log_alpha.tolist()]
    expected = [min(1.0, max(0.0, v * (ZETA - GAMMA) + GAMMA)) for v in s]
    assert z.tolist() == pytest.approx(expected, abs=1e-12)
    assert z[0] == 0 and 0 < z[1] < 0.01 and z[3] == 1


def trained_gates(**kwargs) -> SparseModule:
    """Strong lam and a large gate lr (Adam): a few steps close a good share of the gates."""
    method = HardConcrete(lam=1e-2, init_log_alpha=0.0, gate_lr=0.3, **kwargs)
    module = make_module(method, lr=1e-2, optimizer="torch.optim.Adam")
    fit(module, max_epochs=4)
    return module


def test_hardconcrete_loss_and_test_time_network():
    module = trained_gates()
    method, fc = module.method, module.layers["fc"]
    log_alpha = method.log_alpha("fc").detach()
    # the loss term: lam times the expected number of open gates (formula written here)
    shift = B * math.log(-GAMMA / ZETA)
    expected = 1e-2 * float(torch.sigmoid(log_alpha.double() - shift).sum())
    assert float(method.loss()) == pytest.approx(expected, rel=1e-6)
    # the evaluated weights: w times the deterministic gate, with real zeros where it is 0
    gate = deterministic_gates(log_alpha)
    evaluated = method.evaluated_weights()["fc"].detach()
    assert torch.equal(evaluated, fc.weight.detach() * gate)
    closed = gate == 0
    assert 0.2 < closed.float().mean() < 1.0, "the gates did not close"
    assert torch.equal(evaluated == 0, closed | (fc.weight.detach() == 0))
    assert module.sparsity()["sparsity_fc"] == float((evaluated == 0).float().mean())
    # the evaluated network is a plain network with those zeros in its FC weights, whatever the
    # random state (test-time gates are deterministic)
    plain = copy.deepcopy(module.net).eval()
    with torch.no_grad():
        plain.fc.weight.copy_(evaluated)
    module.eval()
    x = torch.rand(8, 1, 16, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.manual_seed(1)
        first = module(x)
        torch.manual_seed(2)
        second = module(x)
        torch.testing.assert_close(first, second, rtol=0, atol=0)
        torch.testing.assert_close(first, plain(x), rtol=1e-6, atol=1e-6)
        assert int((plain.fc.weight == 0).sum()) == int(closed.sum())


def test_hardconcrete_training_gates_are_random_per_step_and_reproducible():
    method = HardConcrete(lam=1e-3, init_log_alpha=0.0)
    make_module(method)
    method.after_step(5, 100)
    a = method.training_weights()["fc"]
    method.after_step(6, 100)
    b = method.training_weights()["fc"]
    method.after_step(5, 100)  # the same step draws the same gates (resumed runs match)
    assert torch.equal(a, method.training_weights()["fc"]) and not torch.equal(a, b)


def test_gate_parameters_get_their_own_learning_rate():
    module = make_module(HardConcrete(gate_lr=0.05), lr=0.5)
    groups = module.configure_optimizers().param_groups
    gates = {id(module.method.log_alpha("fc"))}
    assert [g["lr"] for g in groups] == [0.5, 0.05]
    assert {id(p) for p in groups[1]["params"]} == gates
    every = [id(p) for g in groups for p in g["params"]]
    assert sorted(every) == sorted(id(p) for p in module.parameters())  # each exactly once


# ---- make compare's presets ----------------------------------------------------------------------
COMPARE = {
    "compare/rvsm_l0": ("RVSM", "penalty.lam", "5e-6,1e-5,1.5e-5,2.5e-5,4e-5"),
    "compare/rvsm_tl1": ("RVSM", "penalty.lam", "9e-6,1.8e-5,3.6e-5,7.2e-5"),
    "compare/gmp": ("GMP", "method.sparsity", "0.86,0.90,0.95,0.97,0.99"),
    "compare/hardconcrete": ("HardConcrete", "method.lam", "1e-4,3e-4,1e-3,3e-3"),
}


@pytest.mark.parametrize("name", sorted(COMPARE))
def test_compare_presets_sweep_one_knob_over_three_seeds_on_fixed_data(name):
    from hydra import compose, initialize_config_dir

    from rvsm.runtime.build import build_method
    from rvsm.runtime.checks import CONF_DIR, validate

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"grid={name}"], return_hydra_config=True)
    validate(cfg)
    kind, knob, grid = COMPARE[name]
    assert type(build_method(cfg.method, cfg.penalty)).__name__ == kind
    assert {k: str(v) for k, v in cfg.hydra.sweeper.params.items()} == {knob: grid, "seed": "1,2,3"}
    assert cfg.data.seed == 12345 and cfg.task_name == "compare"
    if name == "compare/rvsm_tl1":
        assert cfg.penalty.a == 0.01


# ---- through the CLI ----------------------------------------------------------------------------
def test_multirun_of_all_methods_with_wandb_then_report_has_a_row_each(tmp_path, cache_dir):
    sweep_dir = tmp_path / "sweep"
    result = run_cli(
        [
            "-m",
            *ANY_METHOD,
            "trainer.max_epochs=2",  # RVSM's default fine-tuning epoch needs a second one
            "method=rvsm,gmp,hardconcrete",
            "logger=wandb",
            f"hydra.sweep.dir={sweep_dir}",
        ],
        tmp_path,
        cache_dir,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = {m["method"]: m for m in map(metrics_of, sorted(sweep_dir.glob("[0-9]")))}
    assert set(jobs) == {"rvsm", "gmp", "hardconcrete"}
    common = {"test/acc", "test/sparsity_fc", "test/sparsity", "val/acc", "val/sparsity_fc"}
    for name, m in jobs.items():
        assert m["status"] == "ok" and common | {"time/fit_s", "time/test_s"} <= set(m), name
        assert ("test/acc_dense" in m) == (name == "rvsm"), name  # only RVSM has a dense twin
    n = 2 * 32 * (32 // 8) * (64 // 8)  # FC weights of the tiny network
    assert jobs["gmp"]["test/sparsity_fc"] == round(0.9 * n) / n  # exact after one epoch
    assert jobs["gmp"]["sparsity_target"] == 0.9 and jobs["hardconcrete"]["lam"] == 3e-4
    assert "rvsm: method=gmp sparsity_target=0.9 seed=12345 |" in result.stdout
    for job in sorted(sweep_dir.glob("[0-9]")):  # W&B offline runs hold every method's curves
        keys = wandb_history_keys(wandb_records(next((job / "wandb").glob("offline-run-*"))))
        assert common <= keys, job

    report = run_cli([str(sweep_dir)], tmp_path, cache_dir, module="rvsm.report")
    assert report.returncode == 0, report.stderr[-3000:]
    with open(sweep_dir / "report.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["method"] for r in rows) == ["gmp", "hardconcrete", "rvsm"]
    assert all(r["seeds"] == "12345" and r["rank"] for r in rows)


# 3 deterministic epochs of 13 steps; pruning from step 0 to step 35 every 5 steps, so the
# checkpoint after epoch 1 (step 13) is mid-schedule: masks at cubic(10) of 0.9
THREE_EPOCHS = [
    *ANY_METHOD,
    "data.n_pairs={train:200,val:32,test:32}",
    "trainer.max_epochs=3",
    "trainer.deterministic=true",
]
GMP_RUN = [
    *THREE_EPOCHS,
    "method=gmp",
    "method.start=0.0",
    "method.end=0.9",
    "method.every_steps=5",
]


def test_gmp_resume_mid_schedule_restores_masks_and_equals_uninterrupted_run(tmp_path, cache_dir):
    whole = run_cli([*GMP_RUN, f"hydra.run.dir={tmp_path / 'whole'}"], tmp_path, cache_dir)
    assert whole.returncode == 0, whole.stderr[-3000:]
    run_dir = tmp_path / "stopped"
    args = [*GMP_RUN, f"hydra.run.dir={run_dir}"]
    first = run_cli([*args, "stop_after_epochs=1"], tmp_path, cache_dir)
    assert first.returncode == 0, first.stderr[-3000:]
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    mask = torch.load(ckpt, weights_only=False)["state_dict"]["net.fc.weight_mask"]
    assert int((mask == 0).sum()) == round(0.9 * (1 - (1 - 10 / 35) ** 3) * mask.numel())
    resumed = run_cli([*args, "ckpt_path=last"], tmp_path, cache_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_numbers(metrics_of(tmp_path / "whole"), metrics_of(run_dir))
    final = [
        torch.load(d / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
        for d in (tmp_path / "whole", run_dir)
    ]
    assert torch.equal(final[0]["net.fc.weight_mask"], final[1]["net.fc.weight_mask"])
    assert (
        json.loads((run_dir / "metrics.json").read_text())["test/sparsity_fc"]
        == round(0.9 * mask.numel()) / mask.numel()
    )


def test_hardconcrete_resume_draws_the_same_gates_as_an_uninterrupted_run(tmp_path, cache_dir):
    args = [*THREE_EPOCHS, "method=hardconcrete", "method.lam=1e-2", "method.gate_lr=0.3"]
    args.append("method.init_log_alpha=0.0")  # a few gates close within the 39 steps
    a, b = whole_and_resumed(args, tmp_path, cache_dir)
    assert_same_numbers(a, b)
    assert a["test/sparsity_fc"] > 0  # gates closed, so the comparison covers them
