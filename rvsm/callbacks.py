"""Small Lightning callbacks the task function adds from config keys."""

from __future__ import annotations

import lightning as L


class StopAfterEpochs(L.Callback):
    """Stop cleanly once ``epochs`` epochs are complete (e.g. to fit a time slot).

    The epoch's checkpoint is written as usual, so ``ckpt_path=last`` continues the run later,
    with the learning-rate schedule of the full ``trainer.max_epochs``.
    """

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True
