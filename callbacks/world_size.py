"""``WorldSizeChange``: a fit resumed on another number of processes says that its user order changed.

The train order is a function of ``(seed, epoch, rank, world_size)`` (:mod:`bump_pl.data.sampler`),
and a resumed epoch skips the batches each rank had done; on another world size the steps still
count on and the run folder and profile cache continue, but the users seen from there on differ from
the uninterrupted run's. The world size is recorded in every checkpoint (``bump_world_size``), and a
resume that finds another one prints :func:`~bump_pl.data.sampler.order_change_note` once.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn

from bump_pl.data.sampler import order_change_note

KEY = "bump_world_size"


class WorldSizeChange(Callback):
    """Record ``trainer.world_size`` in each checkpoint; on resuming a fit from one of another world
    size, print the note (global rank 0) and keep it in ``note`` (validate/test/predict train nothing: silent)."""

    def __init__(self) -> None:
        self.note: str | None = None

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint[KEY] = trainer.world_size

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get(KEY)
        if trainer.state.fn != TrainerFn.FITTING or saved is None or int(saved) == trainer.world_size:
            return
        self.note = order_change_note(int(saved), trainer.world_size)
        if trainer.is_global_zero:
            print(self.note, flush=True)
