"""Mid-epoch checkpoints: on a preemption signal (then stop), and every ``train_time_interval``.

Clusters announce the end of a job with a signal: SLURM sends SIGTERM on preemption and, when asked
(``--signal``), SIGUSR1 or SIGUSR2 shortly before the time limit (submitit uses SIGUSR2). The
handler only notes the signal; the checkpoint is written between two batches, where the state is
whole, into ``last.ckpt`` (atomically, with the sampler's position, so the run resumes at the next
unseen batch). The run then ends with ``PREEMPTED_EXIT`` after handing the signal on to whoever
handled it before (submitit requeues the job from its handler; a requeued job finds its preempted
run folder and resumes, see ``auto_resume`` in rvsm/runtime/checkpointing.py). The time-based
checkpoint bounds what a SIGKILL, which leaves no time to save, can lose.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType

import lightning as L
import torch

# EX_TEMPFAIL of sysexits.h: a temporary failure, the same command can be tried again
PREEMPTED_EXIT = 75
SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


class Preempted(Exception):
    """Raised between two batches after a preemption signal, once the checkpoint is written."""

    def __init__(self, signum: int, epoch: int, batch: int, previous_handler) -> None:
        self.signum, self.previous_handler = signum, previous_handler
        super().__init__(
            f"preempted by {signal.Signals(signum).name} in epoch {epoch}, after batch {batch}"
        )

    def hand_on(self) -> None:
        """Call the signal's previous Python handler, e.g. submitit's checkpoint-and-requeue."""
        if callable(self.previous_handler):
            self.previous_handler(self.signum, None)


class MidEpochCheckpoint(L.Callback):
    """``<dirpath>/last.ckpt`` between two batches: every ``train_time_interval`` seconds of
    training, and at once after a preemption signal, which then stops the run."""

    def __init__(self, dirpath: str, train_time_interval: float | None = 300.0) -> None:
        self.path = Path(dirpath) / "last.ckpt"
        self.interval = train_time_interval
        self.received: int | None = None
        self._previous: dict[int, object] = {}
        self._outer: dict[int, object] = {}
        self._last_save = time.monotonic()

    def _note(self, signum: int, _frame: FrameType | None) -> None:
        self.received = self.received or signum

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # the handlers of whoever ran the Trainer (e.g. submitit's, which requeue the job), taken
        # before Lightning adds its own: hand_on() calls these, not Lightning's SIGTERM notifier,
        # whose broadcast to the other ranks fails once one of them has ended
        self._outer = {signum: signal.getsignal(signum) for signum in SIGNALS}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # registered after Lightning's own handlers, restored when training ends
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._note)
        self._last_save = time.monotonic()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, err) -> None:
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def _decide(self, trainer: L.Trainer, pl_module) -> tuple[bool, bool]:
        """(save now, then stop): a signal and a due time on any rank count on every rank, so
        that under DDP all ranks checkpoint after the same batch (a checkpoint is collective)."""
        due = self.interval is not None and time.monotonic() - self._last_save >= self.interval
        stop = self.received is not None
        if trainer.world_size > 1:
            flags = torch.tensor([stop, due], dtype=torch.int32, device=pl_module.device)
            stop, due = (trainer.strategy.reduce(flags, reduce_op="sum") > 0).tolist()
        return stop or due, stop

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        save, stop = self._decide(trainer, pl_module)
        if not save:
            return
        pl_module.finish_step()  # the method's after-step work belongs in the checkpoint
        trainer.save_checkpoint(self.path)
        self._last_save = time.monotonic()
        if stop:  # a rank that got no signal itself stops as the one that did (SIGTERM)
            signum = self.received or signal.SIGTERM
            raise Preempted(signum, trainer.current_epoch, batch_idx, self._outer.get(signum))
