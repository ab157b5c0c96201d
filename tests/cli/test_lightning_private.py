"""The one private Lightning attribute bump sets, checked against the installed Lightning.

``bump validate`` / ``bump test`` log at the checkpoint's step of the run they join by setting
``trainer.fit_loop.epoch_loop._batches_that_stepped`` (``BumpCLI._log_at_checkpoint_step``): Lightning
has no public way to choose the step of metrics logged outside fit. If Lightning renames the
attribute or stops reading it, this test fails (and validate/test would silently log at step 0).
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers import Logger


class StepLog(Logger):
    """Keeps ``(step, metric names)`` of every ``log_metrics`` call."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[tuple[int | None, list[str]]] = []

    @property
    def name(self) -> str:
        return "steps"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.steps.append((step, sorted(metrics)))


class LoggingModel(BoringModel):
    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val/x", self.step(batch).mean())


def test_validate_logs_at_the_batches_that_stepped_bump_sets() -> None:
    logger = StepLog()
    trainer = Trainer(accelerator="cpu", logger=logger, limit_val_batches=2, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit_loop.epoch_loop._batches_that_stepped = 7  # what BumpCLI sets from the checkpoint
    trainer.validate(LoggingModel(), verbose=False)
    assert [step for step, names in logger.steps if "val/x" in names] == [7]
