"""RVSM's splitting schedules: beta growth, threshold, sync and the finetune phase, in a real
Trainer, each checked against values computed here; resume mid-schedule through the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pytest
import torch

from rvsm.methods.penalties import L0, TL1
from rvsm.methods.schedules import grown_beta
from tests.helpers import (
    BETA,
    TINY_DATA,
    assert_same_numbers,
    fit,
    make_module,
    metrics_of,
    run_cli,
)


def test_grown_beta_is_beta_times_growth_per_epoch_up_to_the_cap():
    assert grown_beta(0.1, 1.5, None, 0) == 0.1
    assert grown_beta(0.1, 1.5, None, 3) == pytest.approx(0.1 * 1.5 * 1.5 * 1.5)
    assert grown_beta(0.1, 2.0, 0.5, 2) == pytest.approx(0.4)
    assert grown_beta(0.1, 2.0, 0.5, 3) == 0.5  # 0.8 capped
    assert grown_beta(0.1, 1.0, None, 50) == 0.1


class EpochRecorder(L.Callback):
    """At every epoch start (after the previous epoch's schedule step) and at the end of training:
    beta, the split layers' w and u, and the logged train/* values of the epoch before."""

    def __init__(self) -> None:
        self.states: list[dict] = []

    def _record(self, trainer, module) -> None:
        method = module.method
        self.states.append(
            {
                "beta": float(method.beta),
                "w": {n: module.layers[n].weight.detach().clone() for n in method.layers},
                "u": {n: method.u(n).clone() for n in method.layers},
                "logged": {k: float(v) for k, v in trainer.callback_metrics.items()},
            }
        )

    def on_train_epoch_start(self, trainer, module):
        self._record(trainer, module)

    def on_train_end(self, trainer, module):
        self._record(trainer, module)


def run_schedule(penalty, epochs: int = 4, **schedule) -> tuple[list[dict], object]:
    module = make_module(penalty, layers=("fc",), **schedule)
    recorder = EpochRecorder()
    fit(module, [recorder], max_epochs=epochs)
    return recorder.states, module


def test_beta_grows_each_epoch_and_the_threshold_stays_or_shrinks():
    lam, growth, cap = 1e-3, 1.5, BETA * 2.0
    for keep in (True, False):
        states, _ = run_schedule(
            L0(lam), beta_growth=growth, beta_max=cap, keep_threshold=keep, epochs=4
        )
        # epoch e trains with beta = BETA * growth^e, capped (computed here, not by the code)
        expected = [min(BETA * growth**e, cap) for e in range(5)]
        assert [s["beta"] for s in states] == pytest.approx(expected)
        for epoch in range(1, 5):  # what was logged for the epoch before
            logged, beta = states[epoch]["logged"], expected[epoch - 1]
            assert logged["train/beta"] == pytest.approx(beta)
            prox_beta = BETA if keep else beta
            assert logged["train/threshold"] == pytest.approx(math.sqrt(2 * lam / prox_beta))
        # u is hard thresholding of w at that threshold at the end of each epoch
        last_threshold = math.sqrt(2 * lam / (BETA if keep else expected[3]))
        w, u = states[-1]["w"]["fc"], states[-1]["u"]["fc"]
        torch.testing.assert_close(u, torch.where(w.abs() > last_threshold, w, 0.0))


def test_w_minus_u_is_logged_as_the_distance_at_the_epoch_end():
    states, _ = run_schedule(L0(1e-3), epochs=2)
    w, u = states[1]["w"]["fc"], states[1]["u"]["fc"]
    assert states[1]["logged"]["train/w_minus_u"] == pytest.approx(float((w - u).norm()))
    assert states[1]["logged"]["train/w_minus_u"] > 0


@pytest.mark.parametrize("penalty", [L0(1e-3), TL1(1e-3, a=0.05)], ids=["l0", "tl1"])
def test_sync_puts_w_on_u_at_every_epoch_end(penalty):
    states, _ = run_schedule(penalty, epochs=3, sync_every_epoch=True)
    for state in states[1:-1]:  # right after the ends of epochs 0 and 1 (before any new step)
        torch.testing.assert_close(state["w"]["fc"], state["u"]["fc"], rtol=0, atol=0)
        assert (state["w"]["fc"] == 0).any()
    # without sync w stays dense
    plain, _ = run_schedule(penalty, epochs=2)
    assert not (plain[1]["w"]["fc"] == 0).any()


@pytest.mark.parametrize("penalty", [L0(1e-3), TL1(1e-3, a=0.05)], ids=["l0", "tl1"])
def test_finetune_fixes_the_support_and_ends_with_w_equal_u(penalty):
    states, module = run_schedule(penalty, epochs=4, finetune_epochs=2)
    start = states[2]  # the finetune phase starts after epoch 1: epochs 2 and 3 are finetuned
    support = start["u"]["fc"] != 0
    assert 0 < support.float().mean() < 1
    for state in states[2:]:
        w, u = state["w"]["fc"], state["u"]["fc"]
        torch.testing.assert_close(w, u, rtol=0, atol=0)  # the evaluated net is the trained one
        assert torch.equal(u != 0, support)  # the zero pattern did not change
    # survivors kept training
    assert not torch.equal(states[2]["w"]["fc"], states[-1]["w"]["fc"])
    # before the phase w and u differed
    assert not torch.equal(states[1]["w"]["fc"], states[1]["u"]["fc"])
    assert bool(module.method.finetuning)


def test_bad_schedule_values_are_refused():
    with pytest.raises(ValueError, match="^beta_growth must"):
        make_module(L0(1e-3), beta_growth=0.0)
    with pytest.raises(ValueError, match="^beta_max must"):
        make_module(L0(1e-3), beta_max=BETA / 2)
    with pytest.raises(ValueError, match="^finetune_epochs must"):
        make_module(L0(1e-3), finetune_epochs=-1)


# Deterministic CPU runs of 4 epochs with every schedule on; the checkpoint after epoch 2 is taken
# mid-schedule (beta grown twice) and inside the finetune phase it starts after epoch 1... of 4.
SCHEDULED = [
    *TINY_DATA,
    "data.n_pairs={train:200,val:32,test:32}",
    "trainer.max_epochs=4",
    "trainer.deterministic=true",
    "penalty.lam=1e-4",
    "method.beta_growth=2.0",
    "method.beta_max=0.5",
    "method.keep_threshold=false",
    "method.sync_every_epoch=true",
    "method.finetune_epochs=1",
]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[dict, Path]:
    """metrics.json of the scheduled run that never stopped, and its data cache."""
    root = tmp_path_factory.mktemp("scheduled")
    whole = run_cli([*SCHEDULED, f"hydra.run.dir={root / 'whole'}"], root, root / "cache")
    assert whole.returncode == 0, whole.stderr[-3000:]
    return metrics_of(root / "whole"), root / "cache"


@pytest.mark.parametrize("stop_after", [2, 3], ids=["before-finetune", "in-finetune"])
def test_resume_mid_schedule_equals_uninterrupted_run(tmp_path, uninterrupted, stop_after):
    whole, cache = uninterrupted
    run_dir = tmp_path / "stopped"
    args = [*SCHEDULED, f"hydra.run.dir={run_dir}"]
    first = run_cli([*args, f"stop_after_epochs={stop_after}"], tmp_path, cache)
    assert first.returncode == 0, first.stderr[-3000:]
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert bool(state["method.finetuning"]) == (stop_after == 3)
    resumed = run_cli([*args, "ckpt_path=last"], tmp_path, cache)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = dict(whole), metrics_of(run_dir)
    b["epochs"] = a["epochs"] = 3  # assert_same_numbers expects the reliability suite's 3 epochs
    assert_same_numbers(a, b)
    # the sparse and dense networks are the same network after the finetune phase
    assert a["test/acc"] == a["test/acc_dense"]
