"""Small Lightning callbacks the task function adds from config keys."""

from __future__ import annotations

import time

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


class StageTimer(L.Callback):
    """Wall seconds spent in training batches and in validation, for ``metrics.json``.

    The rest of ``time/fit_s`` is loading the data, setting up, checkpointing and logging.
    """

    def __init__(self) -> None:
        self.seconds = {"train": 0.0, "val": 0.0}
        self._start = 0.0

    def _begin(self, *_) -> None:
        self._start = time.perf_counter()

    def _end(self, stage: str) -> None:
        self.seconds[stage] += time.perf_counter() - self._start

    on_train_batch_start = _begin
    on_validation_epoch_start = _begin

    def on_train_batch_end(self, *_) -> None:
        self._end("train")

    def on_validation_epoch_end(self, *_) -> None:
        self._end("val")
