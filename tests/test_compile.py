"""``model.compile=true`` trains the same network as eager mode, and ``trainer.precision=
bf16-mixed`` (CPU autocast to bfloat16) the same network as float32 within bfloat16's rounding,
each in a real Trainer."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from rvsm.methods.penalties import L0
from rvsm.methods.rvsm import RVSM
from tests.helpers import tiny_module


class LossRecorder(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


def train_steps(compile: bool, precision: str = "32-true") -> tuple[list[float], torch.Tensor]:
    torch.manual_seed(0)
    module = tiny_module(RVSM(L0(1e-3), beta=0.5), optimizer="torch.optim.Adam", lr=1e-3,
                         compile=compile)  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(48, 1, 16, 32, generator=gen).contiguous(memory_format=torch.channels_last)
    loader = DataLoader(TensorDataset(x, torch.randint(0, 2, (48,), generator=gen)), batch_size=16)
    recorder = LossRecorder()
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[recorder],
        precision=precision,
    )
    trainer.fit(module, loader)
    return recorder.losses, module.net.fc.weight.detach().clone()


def test_compiled_and_eager_training_give_the_same_losses_and_weights():
    eager_losses, eager_w = train_steps(compile=False)
    compiled_losses, compiled_w = train_steps(compile=True)
    assert len(eager_losses) == len(compiled_losses) == 6
    # Inductor fuses BatchNorm, ReLU and pooling and may sum in another order: float32 rounding
    # (relative 1e-7 per operation, a few hundred terms per reduction) stays far below 1e-4
    # over six Adam steps, while a real difference (a missing term, another batch) is >= 1e-2.
    torch.testing.assert_close(compiled_losses, eager_losses, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(compiled_w, eager_w, rtol=1e-4, atol=1e-5)
    assert eager_losses[0] != eager_losses[-1]


def test_bf16_mixed_training_follows_float32_within_bfloat16_rounding():
    float_losses, float_w = train_steps(compile=False)
    bf16_losses, bf16_w = train_steps(compile=False, precision="bf16-mixed")
    assert len(bf16_losses) == len(float_losses) == 6
    # the convolutions and the FC layer ran in bfloat16 (8 significant bits), so the losses differ
    assert bf16_losses != float_losses
    # ... by bfloat16's rounding only: relative 2**-8 = 3.9e-3 per rounding, averaged over the
    # batch by the loss; a wrong batch or a skipped step moves the loss by >= 1e-2 here
    torch.testing.assert_close(bf16_losses, float_losses, rtol=5e-3, atol=0)
    # Adam at lr 1e-3 moves a weight by up to 1e-3 a step: one step in another direction is
    # 2e-3 off, bf16's rounding of the gradients keeps the weights within 1e-3 over six steps
    torch.testing.assert_close(bf16_w, float_w, rtol=0, atol=1e-3)
