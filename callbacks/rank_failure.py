"""``RankFailure``: an error raised inside the Trainer says on which rank and at which step, and ends
the other ranks when it is the launching process's.

Under DDP each rank prints its own error; without the note, a line from rank 0 saying that a
collective failed and a line from rank 1 with the real cause look alike. The note is read by
``bump``'s one-line error (``bump: error: rank 1, step 2: RuntimeError: ...``).

Lightning ends the ranks it launched on Ctrl-C only: after any other error of the launching rank the
others live on, stuck in their next collective until its timeout (or, in a rank-local hang, for as
long as that lasts), holding their devices and the terminal's pipes. The launching rank kills them
here, as Lightning does on Ctrl-C.
"""

from __future__ import annotations

import signal

from lightning.pytorch import Callback, LightningModule, Trainer


def add_note(error: BaseException, note: str) -> None:
    """``error.add_note(note)``; on Python 3.10 (no ``add_note``) the same ``__notes__`` list by hand."""
    if hasattr(error, "add_note"):
        error.add_note(note)
    else:  # pragma: no cover - Python 3.10
        error.__notes__ = [*getattr(error, "__notes__", []), note]


class RankFailure(Callback):
    """Note ``rank R, step S`` (one process: ``step S``) on any exception a Trainer hook or step raises,
    and end the launched ranks (``bump`` installs it)."""

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        where = f"rank {trainer.global_rank}, step {trainer.global_step}" if trainer.world_size > 1 else f"step {trainer.global_step}"
        add_note(exception, where)  # one process: no rank to name
        launcher = trainer.strategy.launcher
        if launcher is not None and not isinstance(exception, KeyboardInterrupt):  # Lightning ends them on Ctrl-C
            launcher.kill(getattr(signal, "SIGKILL", signal.SIGTERM))  # no-op on ranks that launched none
