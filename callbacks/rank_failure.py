"""``RankFailureNote``: an error raised inside the Trainer says on which rank and at which step.

Under DDP each rank prints its own error; without this, a line from rank 0 saying that a collective
failed, and a line from rank 1 with the real cause, look alike. The note is read by ``bump``'s
one-line error (``bump: error: rank 1, step 2: RuntimeError: ...``).
"""

from __future__ import annotations

from lightning.pytorch import Callback, LightningModule, Trainer


def add_note(error: BaseException, note: str) -> None:
    """``error.add_note(note)``; on Python 3.10 (no ``add_note``) the same ``__notes__`` list by hand."""
    if hasattr(error, "add_note"):
        error.add_note(note)
    else:  # pragma: no cover - Python 3.10
        error.__notes__ = [*getattr(error, "__notes__", []), note]


class RankFailureNote(Callback):
    """Note ``rank R, step S`` on any exception a Trainer hook or step raises (``bump`` installs it)."""

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        add_note(exception, f"rank {trainer.global_rank}, step {trainer.global_step}")
