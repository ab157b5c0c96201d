"""``FitEndCheckpoint``: ``last.ckpt`` also holds the final step, whatever the save interval.

``ModelCheckpoint(every_n_train_steps=n, save_last=True)`` writes ``last.ckpt`` only every n steps,
so a run whose ``max_steps`` is not a multiple of n ends with an older ``last.ckpt`` (a 3-step run
with n = 2 keeps step 2). This writes every ``save_last`` checkpoint callback's ``last.ckpt`` once
more when training ends, before the end-of-fit work (profile cache, downstream) that a kill could
interrupt; resuming from it finishes that work and trains nothing again.
"""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint


class FitEndCheckpoint(Callback):
    """Save ``<dirpath>/last.ckpt`` of each ``ModelCheckpoint(save_last=...)`` at the end of training."""

    def __init__(self) -> None:
        self.saved: list[Path] = []

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.global_step == 0 or trainer.sanity_checking:
            return
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.save_last and callback.dirpath:
                path = Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}{callback.FILE_EXTENSION}"
                trainer.save_checkpoint(path, weights_only=callback.save_weights_only)  # as the callback saves it
                self.saved.append(path)
