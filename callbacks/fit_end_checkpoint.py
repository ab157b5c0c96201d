"""``FitEndCheckpoint``: ``last.ckpt`` holds the newest step however the fit ends, and is the only one.

* Training ends: ``ModelCheckpoint(every_n_train_steps=n, save_last=True)`` writes ``last.ckpt`` only
  every n steps, so a run whose ``max_steps`` is not a multiple of n would end with an older
  ``last.ckpt`` (a 3-step run with n = 2 keeps step 2). This writes every ``save_last`` checkpoint
  callback's ``last.ckpt`` once more when training ends, before the end-of-fit work (profile cache,
  downstream) that a kill could interrupt; resuming from it finishes that work and trains nothing again.
* Ctrl-C: the first one asks the fit to stop after the step in flight; once that step is complete
  (every rank agrees, so DDP ranks stop at the same step) its ``last.ckpt`` is written and the fit
  stops with ``KeyboardInterrupt`` (``bump`` then prints the command that resumes it and exits 130).
  A second Ctrl-C stops at once, without saving.
* One ``last.ckpt``: a ``ModelCheckpoint`` that did not write the ``last.ckpt`` already in its folder
  (a resumed run whose last save came from here) would write ``last-v1.ckpt`` beside it; it is
  told that ``last.ckpt`` is its own, so it overwrites it.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint


def last_paths(trainer: Trainer) -> list[tuple[ModelCheckpoint, Path]]:
    """``(callback, <dirpath>/last.ckpt)`` of each ``ModelCheckpoint(save_last=...)`` with a folder."""
    return [
        (callback, Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}{callback.FILE_EXTENSION}")
        for callback in trainer.checkpoint_callbacks
        if isinstance(callback, ModelCheckpoint) and callback.save_last and callback.dirpath
    ]


class FitEndCheckpoint(Callback):
    """Save ``<dirpath>/last.ckpt`` of each ``ModelCheckpoint(save_last=...)`` at the end of training
    and after the step in flight on Ctrl-C (``interrupted_checkpoint``: the file, if one was saved)."""

    def __init__(self) -> None:
        self.saved: list[Path] = []
        self.stop_requested = False
        self.interrupted_checkpoint: Path | None = None
        self._previous_handler: Any = None
        self._speaks = True

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        for callback, path in last_paths(trainer):
            if path.is_file():  # resumed: this last.ckpt is the callback's own, to overwrite
                callback.last_model_path = str(path)
        self._speaks = trainer.is_global_zero
        in_main = threading.current_thread() is threading.main_thread()
        if in_main and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous_handler = signal.signal(signal.SIGINT, self._request_stop)

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        """First Ctrl-C: stop after the step in flight; the next one interrupts at once."""
        self.stop_requested = True
        self._restore_handler()
        if self._speaks:
            print(
                "\nbump: Ctrl-C: stopping after the step in flight and saving it (Ctrl-C again: stop at once, unsaved)",
                file=sys.stderr,
                flush=True,
            )

    def _restore_handler(self) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not trainer.strategy.reduce_boolean_decision(self.stop_requested, all=False):
            return
        saved = self._save_last(trainer)
        self.interrupted_checkpoint = saved[0] if saved else None
        raise KeyboardInterrupt

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._restore_handler()
        if trainer.global_step == 0 or trainer.sanity_checking:
            return
        self.saved.extend(self._save_last(trainer))

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self._restore_handler()

    def _save_last(self, trainer: Trainer) -> list[Path]:
        """Write each ``last.ckpt`` as its callback would (its own ``weights_only``) and make it the callback's."""
        written = []
        for callback, path in last_paths(trainer):
            callback.last_model_path = str(path)  # before saving: the file records it as its own
            trainer.save_checkpoint(path, weights_only=callback.save_weights_only)
            written.append(path)
        return written
