"""The collapse stop (``collapse.after_epochs``): a run at chance stops there with status
``collapsed``, a result of the sweep; a run that learns goes on."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from rvsm.methods.penalties import L0
from rvsm.methods.rvsm import RVSM
from rvsm.runtime.callbacks import StopCollapsed
from tests.helpers import TINY_DATA, metrics_of, run_cli, tiny_module

# every FC weight zeroed at once (l0 threshold sqrt(2 lam / beta) = 4.5): the evaluated network
# predicts one class, so val/acc is the share of that class in the balanced pairs, 0.5
AT_CHANCE = [*TINY_DATA, "penalty.lam=1.0", "trainer.max_epochs=3"]


def test_a_run_at_chance_stops_at_the_knobs_epoch_as_collapsed_and_a_sweep_goes_on(
    tmp_path, cache_dir
):
    sweep = tmp_path / "sweep"
    args = ["-m", *AT_CHANCE, "collapse.after_epochs=1,null", f"hydra.sweep.dir={sweep}"]
    result = run_cli(args, tmp_path, cache_dir)
    assert result.returncode == 0, result.stderr[-3000:]  # a collapse is a result, not a failure
    stopped, trained_on = metrics_of(sweep / "0"), metrics_of(sweep / "1")
    assert stopped["status"] == "collapsed" and stopped["epochs"] == 1
    assert stopped["val/acc"] == 0.5 and stopped["val/sparsity_fc"] == 1.0
    assert stopped["objective"] == 0.0  # failed_objective, what the sweeper is given
    assert "test/acc" not in stopped  # not tested: nothing was spent on it
    assert stopped["error"].startswith("val/acc 0.5000 < collapse.below_acc=0.6 after 1 epochs")
    assert "rvsm: collapsed: val/acc 0.5000" in result.stdout
    # without the stop the same run trains its 3 epochs, at chance: status ok
    assert trained_on["status"] == "ok" and trained_on["epochs"] == 3
    assert trained_on["val/acc"] == 0.5


def separable(n: int) -> DataLoader:
    """Images that are all ink (class 1) or all paper (class 0): learnt in an epoch."""
    y = torch.arange(n) % 2
    x = y.float().view(n, 1, 1, 1).expand(n, 1, 16, 32).contiguous()
    return DataLoader(TensorDataset(x, y), batch_size=8, shuffle=False)


def test_a_run_that_learns_is_not_stopped():
    stop = StopCollapsed(after_epochs=1, below_acc=0.6)
    module = tiny_module(RVSM(L0(1e-6), beta=0.1), lr=0.5)
    trainer = L.Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[stop],
    )
    trainer.fit(module, separable(64), separable(16))
    assert trainer.callback_metrics["val/acc"] > 0.6
    assert stop.collapsed is None and trainer.current_epoch == 3


def test_collapse_after_epochs_is_refused_below_one():
    with pytest.raises(ValueError, match=r"^collapse.after_epochs must be an integer >= 1, got 0"):
        StopCollapsed(after_epochs=0, below_acc=0.6)
