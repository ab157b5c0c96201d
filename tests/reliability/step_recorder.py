"""A test-only callback that appends ``{"step", "epoch", "users"}`` per train batch to a JSONL file.

The kill/resume test puts this folder on ``PYTHONPATH`` and adds the callback to a real ``bump fit``
so it can compare which users each global step saw across an interrupted and a reference run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer


class StepRecorder(Callback):
    """Append one JSON line per train batch, written and closed before the step runs.

    Args:
        path: the JSONL file (appended to, so a resumed run adds to the killed run's records).
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        record = {"step": trainer.global_step, "epoch": trainer.current_epoch, "users": list(batch.user_ids)}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
