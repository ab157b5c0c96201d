"""``Preemption``: SIGTERM during a fit saves the last completed step and stops within seconds.

SIGTERM is what SLURM, Kubernetes and Docker send before SIGKILL (Kubernetes waits 30 s by default;
SLURM ``KillWait`` 30 s). A step can take minutes, so waiting for the step in flight would be killed
unsaved; instead the step in flight is abandoned:

* The handler raises Lightning's ``SIGTERMException`` where the signal lands, unless the weights
  are being updated: from the first optimizer step of a batch (``on_before_optimizer_step``) to the
  end of that batch, the update completes and the stop happens at ``on_train_batch_end``. Anywhere
  else (rollouts, reward, backward, validation, profile cache, downstream report) the weights,
  optimizer and progress counters are those of the last completed step, so that is what is saved.
* Global rank 0 alone writes each ``ModelCheckpoint(save_last=...)``'s ``last.ckpt`` from its own
  state, with no collective: the other ranks may be stopped already, or blocked in a collective
  that their peers left (a gloo collective fails as soon as a peer process exits). DDP ranks hold
  the same weights, so rank 0's copy is the run's. Sharded strategies (FSDP, DeepSpeed) need every
  rank to write; for them nothing is saved here and the newest periodic checkpoint stands.
* The launching process forwards the signal to the ranks Lightning launched (as Lightning's own
  handler does), so ``kill PID`` on it stops every rank; under ``torchrun`` and ``srun`` each rank
  receives the signal itself.

Lightning's own SIGTERM handling (``trainer.received_sigterm``) stops at the next batch boundary
and, under DDP, broadcasts from inside the signal handler, which can pair with another rank's
collective; this handler replaces it from ``on_train_start`` until the trainer tears down, when
Lightning restores the handlers it found. ``bump`` turns the exception into the resume command and
exit code 143 (:mod:`bump_pl.cli.failure`).
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.strategies import DDPStrategy, DeepSpeedStrategy, SingleDeviceStrategy
from lightning.pytorch.utilities.exceptions import SIGTERMException

from bump_pl.callbacks.fit_end_checkpoint import last_paths


def save_last_alone(trainer: Trainer) -> list[Path]:
    """Write every ``last.ckpt`` from this process's state without a collective (``Trainer.save_checkpoint``
    ends in a barrier); each callback's own ``weights_only``. Call it on global rank 0 only."""
    written = []
    for callback, path in last_paths(trainer):
        callback.last_model_path = str(path)  # before dumping: the file records it as its own
        # private: the dump without Trainer.save_checkpoint's barrier (tests/reliability/test_preemption.py)
        checkpoint = trainer._checkpoint_connector.dump_checkpoint(weights_only=callback.save_weights_only)
        trainer.strategy.checkpoint_io.save_checkpoint(checkpoint, path)
        written.append(path)
    return written


class Preemption(Callback):
    """On SIGTERM during a fit: abandon the work in flight (not a weight update), save the last
    completed step (global rank 0) and raise ``SIGTERMException`` (``bump`` installs it).

    ``received`` says a SIGTERM arrived; ``interrupted_checkpoint`` is the ``last.ckpt`` saved then, if any.
    """

    def __init__(self) -> None:
        self.received = False
        self.interrupted_checkpoint: Path | None = None
        self._trainer: Trainer | None = None
        self._updating = False  # from the first optimizer step of a batch to its end
        self._stopping = False  # SIGTERMException raised (or another error is unwinding): never raise again

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._trainer = trainer
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._on_sigterm)  # Lightning restores its predecessor at teardown

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        first, self.received = not self.received, True
        trainer = self._trainer
        if first and trainer is not None:
            launcher = trainer.strategy.launcher
            if launcher is not None:
                launcher.kill(signum)  # the ranks Lightning launched (none on other ranks)
            if trainer.is_global_zero:
                where = "after the weight update in flight" if self._updating else "now, abandoning the step in flight"
                print(f"\nbump: SIGTERM: stopping {where} and saving the last completed step", file=sys.stderr, flush=True)
        if not self._updating and not self._stopping:
            self._stopping = True
            raise SIGTERMException

    def on_before_optimizer_step(self, trainer: Trainer, pl_module: LightningModule, optimizer: Any) -> None:
        self._updating = True

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._updating = False
        if self.received and not self._stopping:  # arrived during the update: the step is complete now
            self._stopping = True
            raise SIGTERMException

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self._stopping = True
        if not self.received or not trainer.is_global_zero or trainer.global_step == 0:
            return
        strategy = trainer.strategy
        if not isinstance(strategy, (DDPStrategy, SingleDeviceStrategy)) or isinstance(strategy, DeepSpeedStrategy):
            print(f"bump: SIGTERM: {type(strategy).__name__} shards its checkpoints: not saved on one rank", file=sys.stderr)
            return
        saved = save_last_alone(trainer)
        self.interrupted_checkpoint = saved[0] if saved else None
