"""``RunSubfolderCallback``: a callback that writes under one subfolder of the run's log folder.

The folder is resolved once, in ``setup``, on every rank: reading ``trainer.log_dir`` is a collective
under DDP (Lightning broadcasts rank 0's folder), and reaching it from a rank-0 branch deadlocks the
ranks (see :func:`bump_pl.runs.folders.run_dir`). Every later hook reads ``root``, which is plain data.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from lightning.pytorch import Callback, LightningModule, Trainer

from bump_pl.runs.folders import run_dir


class RunSubfolderCallback(Callback):
    """Base of the callbacks that write under ``<log_dir>/<SUBFOLDER>``; subclasses set ``SUBFOLDER``
    (``""``: the run folder itself)."""

    SUBFOLDER: ClassVar[str]
    _root: Path | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._root = run_dir(trainer) / self.SUBFOLDER

    @property
    def root(self) -> Path:
        """``<log_dir>/<SUBFOLDER>`` of the current run, resolved in ``setup``."""
        if self._root is None:
            raise RuntimeError(f"{type(self).__name__}.root is resolved in setup(), which the Trainer runs before any hook")
        return self._root
