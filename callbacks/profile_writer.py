"""``ProfileWriter``: ``bump predict`` output, one ``{"user_id", "profile"}`` JSON object per line.

Acts only in predict (it is a ``BasePredictionWriter``), so the configs can list it next to the
training callbacks. The file is written whole at the end of the predict epoch, atomically.
Under several ranks each rank writes its own users to ``<stem>.rank<N>.jsonl`` (predict batches are
not gathered).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bump_pl.callbacks.run_subfolder import RunSubfolderCallback
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter

from bump_pl.atomic_files import jsonl_text, write_text_atomic

DEFAULT_NAME = "predictions.jsonl"


class ProfileWriter(RunSubfolderCallback, BasePredictionWriter):
    """Write ``predict_step``'s ``[{"user_id", "profile"}]`` batches as JSONL.

    Args:
        output_path: the JSONL file; default ``<trainer.log_dir>/predictions.jsonl``.
    """

    SUBFOLDER = ""  # the run folder itself

    def __init__(self, output_path: str | Path | None = None) -> None:
        super().__init__(write_interval="epoch")
        self.output_path = Path(output_path) if output_path is not None else None
        self.written: Path | None = None

    def resolve_path(self, trainer: Trainer) -> Path:
        """Where this rank writes: ``output_path`` (or the default), rank-suffixed when world_size > 1."""
        path = self.output_path or self.root / DEFAULT_NAME
        if trainer.world_size > 1:
            path = path.with_name(f"{path.stem}.rank{trainer.global_rank}{path.suffix}")
        return path

    def write_on_epoch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        predictions: Sequence[Any],
        batch_indices: Sequence[Any],
    ) -> None:
        # One predict dataloader: ``predictions`` is the list of batch outputs (each a list of rows).
        rows = [row for batch in predictions for row in batch]
        for row in rows:
            if not isinstance(row, dict) or not {"user_id", "profile"} <= set(row):
                raise TypeError(f"ProfileWriter expects predict_step to return [{{'user_id', 'profile'}}], got {row!r}")
        self.written = write_text_atomic(self.resolve_path(trainer), jsonl_text(rows))
