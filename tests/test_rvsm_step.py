"""The RVSM step in a real Lightning Trainer: u = prox(w) after every batch; sparse evaluation."""

from __future__ import annotations

import lightning as L
import torch

from rvsm.methods.penalties import L0, TL1
from rvsm.nets import TremorCNN
from tests.helpers import BETA, fit, make_module


class RecordAfterBatch(L.Callback):
    """Copies w and u after each batch's optimizer step and RVSM step.

    Callbacks' on_train_batch_end runs before the module's, so the state after batch k is read at
    the start of batch k + 1, and after the last batch at the end of the epoch.
    """

    def __init__(self) -> None:
        self.records: list[tuple[dict, dict]] = []

    def _record(self, module) -> None:
        w = {n: module.layers[n].weight.detach().clone() for n in module.split_layers}
        u = {n: module.method.u(n).clone() for n in module.split_layers}
        self.records.append((w, u))

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if batch_idx > 0:
            self._record(module)

    def on_train_epoch_end(self, trainer, module):
        self._record(module)


def test_u_equals_prox_of_w_after_every_batch():
    # lam large enough that the l0 threshold sqrt(2 lam / beta) zeroes a good share of weights
    penalty = L0(lam=1e-3)
    threshold = (2 * 1e-3 / BETA) ** 0.5
    module = make_module(penalty)
    recorder = RecordAfterBatch()
    fit(module, [recorder])
    assert len(recorder.records) == 3
    for w, u in recorder.records:
        for name in ("conv3", "fc"):
            # independent of the module: hard threshold written out here
            expected = torch.where(w[name].abs() > threshold, w[name], torch.zeros_like(w[name]))
            torch.testing.assert_close(u[name], expected, rtol=0, atol=0)
            assert 0 < (u[name] == 0).float().mean() < 1


def test_loss_includes_coupling_with_detached_u():
    module = make_module(TL1(lam=1e-3, a=1.0), layers=("fc",))
    with torch.no_grad():
        module.method.u("fc").zero_()
    w = module.layers["fc"].weight
    gap = module.method.split_gap()
    gap.backward()
    # d/dw ||w - u||^2 = 2 (w - u) with u = 0; nothing flows into the buffer
    torch.testing.assert_close(w.grad, 2 * w.detach())
    assert not module.method.u("fc").requires_grad


def test_weights_move_toward_u_and_training_changes_weights():
    module = make_module(L0(lam=1e-3), layers=("fc",))
    before = module.layers["fc"].weight.detach().clone()
    fit(module)
    assert not torch.equal(before, module.layers["fc"].weight.detach())


def test_evaluation_uses_u_and_leaves_w_untouched():
    module = make_module(L0(lam=5e-3), layers=("fc",))
    fit(module)
    x = torch.rand(8, 1, 16, 32)
    w_before = module.layers["fc"].weight.detach().clone()
    sparse = module.sparse_forward(x)
    torch.testing.assert_close(module.layers["fc"].weight.detach(), w_before, rtol=0, atol=0)
    # the sparse output equals a copy of the net with u written into fc by hand
    reference = TremorCNN(image_size=(16, 32), channels=(4, 4, 8))
    reference.load_state_dict(module.net.state_dict())
    with torch.no_grad():
        reference.fc.weight.copy_(module.method.u("fc"))
    torch.testing.assert_close(sparse, reference(x))
    assert not torch.allclose(sparse, module.net(x))


def test_sparsity_counts_exact_zeros_of_u():
    module = make_module(L0(lam=1e-3), layers=("conv3", "fc"))
    fit(module)
    s = module.sparsity()
    u_fc, u_c3 = module.method.u("fc"), module.method.u("conv3")
    assert s["sparsity_fc"] == (u_fc == 0).sum().item() / u_fc.numel()
    total = u_fc.numel() + u_c3.numel()
    assert s["sparsity"] == ((u_fc == 0).sum() + (u_c3 == 0).sum()).item() / total


def test_u_is_saved_in_checkpoints(tmp_path):
    module = make_module(L0(lam=1e-3), layers=("fc",))
    trainer = fit(module)
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    state = torch.load(path, weights_only=False)["state_dict"]
    torch.testing.assert_close(state["method.u_fc"], module.method.u("fc"))


def test_unknown_layer_is_refused():
    import pytest

    with pytest.raises(ValueError, match="splitting.layers"):
        make_module(L0(lam=1e-3), layers=("fc", "conv9"))
