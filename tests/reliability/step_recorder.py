"""A test-only callback that appends ``{"step", "epoch", "rank", "pid", "users"}`` per train batch to a JSONL file.

The kill/resume test puts this folder on ``PYTHONPATH`` and adds the callback to a real ``bump fit``
so it can compare which users each global step saw across an interrupted and a reference run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer


class StepRecorder(Callback):
    """Append one JSON line per train batch, written and closed before the step runs.

    Args:
        path: the JSONL file (appended to, so a resumed run adds to the killed run's records).
        pause_at_step: after recording this global step, sleep ``pause_s`` seconds, so that a test's
            signal lands inside that step however fast the tiny steps are (not in a resumed fit,
            which redoes the step the signal interrupted).
        pause_s: the pause in seconds.
    """

    def __init__(self, path: str, pause_at_step: int | None = None, pause_s: float = 0.0) -> None:
        self.path = Path(path)
        self.pause_at_step, self.pause_s = pause_at_step, pause_s

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        step = trainer.global_step
        record = {"step": step, "epoch": trainer.current_epoch, "rank": trainer.global_rank, "pid": os.getpid(),
                  "users": list(batch.user_ids)}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        if step == self.pause_at_step and trainer.ckpt_path is None:
            time.sleep(self.pause_s)
