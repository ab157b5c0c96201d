"""A test-only callback that makes one rank fail or hang at one step of a real ``bump fit``."""

from __future__ import annotations

import time
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer


class RankFault(Callback):
    """On ``rank`` at ``step``: raise (``hang_seconds`` 0) or sleep ``hang_seconds`` before the batch.

    Args:
        rank: the global rank that misbehaves.
        step: the global step whose batch it misbehaves before.
        hang_seconds: 0 raises ``RuntimeError("planted failure")``; more sleeps that long (a stuck rank).
    """

    def __init__(self, rank: int, step: int, hang_seconds: float = 0.0) -> None:
        self.rank, self.step, self.hang_seconds = rank, step, hang_seconds

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        if trainer.global_rank != self.rank or trainer.global_step != self.step:
            return
        if self.hang_seconds:
            time.sleep(self.hang_seconds)
        else:
            raise RuntimeError("planted failure")
