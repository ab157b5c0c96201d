"""Progress display: an epoch label that makes sense with ``max_steps``, and bars for the end-of-fit work.

Lightning's rich bar labels the train bar ``Epoch 0/{max_epochs - 1}``, i.e. ``Epoch 0/-2`` when a
run is bounded by ``max_steps`` (``max_epochs = -1``). While that live display runs it also
captures the terminal, so a plain ``tqdm`` bar (the profile cache's) never shows; :func:`track`
adds such work as a task of the trainer's own rich bar instead, and falls back to ``tqdm``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import RichProgressBar
from tqdm.auto import tqdm

T = TypeVar("T")


class BumpProgressBar(RichProgressBar):
    """``RichProgressBar`` whose train label is ``Epoch N`` (``Epoch N/M`` only with a positive ``max_epochs``)."""

    def _get_train_description(self, current_epoch: int) -> str:
        max_epochs = self.trainer.max_epochs
        label = f"Epoch {current_epoch}" + (f"/{max_epochs - 1}" if max_epochs is not None and max_epochs > 0 else "")
        if self.trainer.max_steps > 0:
            label += f" (max_steps {self.trainer.max_steps})"
        return f"{label:{len(self.validation_description)}}"


def track(trainer: Trainer, items: Iterable[T], total: int, description: str) -> Iterator[T]:
    """Yield ``items`` while a bar of ``total`` steps named ``description`` advances on the trainer's display."""
    bar = getattr(trainer, "progress_bar_callback", None)
    progress = getattr(bar, "progress", None)
    if isinstance(bar, RichProgressBar) and bar.is_enabled and progress is not None and progress.live.is_started:
        task = progress.add_task(description, total=total)
        try:
            for item in items:
                yield item
                progress.update(task, advance=1)
                progress.refresh()
        finally:
            progress.remove_task(task)
        return
    yield from tqdm(items, total=total, desc=description, leave=False, dynamic_ncols=True)
