"""Small Lightning callbacks the task function adds from config keys."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import lightning as L

from rvsm.runtime.preemption import MidEpochCheckpoint
from rvsm.utils.io import atomic_open

log = logging.getLogger(__name__)


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


class StopCollapsed(L.Callback):
    """Stop a run whose validation accuracy is still below ``below_acc`` (chance, for two
    classes 0.5) after ``after_epochs`` epochs: a sweep point past the sparsity cliff, which
    would train at chance to the end. The run ends with status ``collapsed``, a result of the
    sweep rather than a failure, its epoch's checkpoint written as usual. Not checked at the last
    epoch, where stopping saves nothing."""

    def __init__(self, after_epochs: int, below_acc: float) -> None:
        if int(after_epochs) < 1:
            raise ValueError(f"collapse.after_epochs must be an integer >= 1, got {after_epochs}")
        self.after_epochs, self.below_acc = int(after_epochs), float(below_acc)
        self.collapsed: float | None = None  # the validation accuracy it stopped at

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epochs = trainer.current_epoch + 1
        acc = trainer.callback_metrics.get("val/acc")
        if epochs != self.after_epochs or epochs >= trainer.max_epochs or acc is None:
            return
        if float(acc) < self.below_acc:
            self.collapsed = float(acc)
            trainer.should_stop = True


class HoldAtStep(L.Callback):
    """A debugging knob (``hold.step``): stop before training step ``step`` (after that many
    optimizer steps) until the file ``release`` exists, a preemption signal arrives (the run
    then checkpoints after the next batch and stops, as ever) or ``timeout_s`` pass.

    While held, ``<run folder>/held`` holds the process id: a test, or a person, can act at a
    known moment of a run (signal it, kill it, preempt its job) on any machine, however fast,
    instead of guessing how long the run takes. A run resumed past ``step`` is not held again.
    """

    def __init__(self, step: int, release: str | None, marker: str, timeout_s: float) -> None:
        self.step, self.timeout_s = int(step), float(timeout_s)
        self.release = Path(release) if release else None
        self.marker = Path(marker)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step != self.step:
            return
        signalled = [cb for cb in trainer.callbacks if isinstance(cb, MidEpochCheckpoint)]
        with atomic_open(self.marker, "w") as f:
            f.write(f"{os.getpid()}\n")
        deadline = time.monotonic() + self.timeout_s
        while not (self.release is not None and self.release.exists()):
            if any(cb.received is not None for cb in signalled):
                return
            if time.monotonic() > deadline:
                log.warning("hold.step=%d: not released in %g s; going on", self.step,
                            self.timeout_s)  # fmt: skip
                return
            time.sleep(0.02)


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
