"""Stand-ins for the callback tests: a set-up data module, a profile generator and a trainer."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from lightning.pytorch.trainer.states import TrainerFn

from bump_pl.data import BumpDataModule, UserGroupBatch
from bump_pl.models.tiny import tiny_tokenizer


def make_datamodule(data_dir: Path, users_per_batch: int = 3) -> BumpDataModule:
    """A set-up (``fit``) data module on ``data_dir`` with the tiny byte tokenizer."""
    module = BumpDataModule(
        data_dir, tiny_tokenizer(), users_per_batch=users_per_batch, heldout_per_user=2, min_context_items=2,
        max_prompt_tokens=None,
    )
    module.setup("fit")
    return module


class FakeGenerator(torch.nn.Module):
    """Stands in for ``BumpModule``: its ``generator.profiles`` records its calls and can fail on one.

    It checks the callback's promises while generating: no autograd and eval mode everywhere.
    """

    def __init__(self, fail_on_call: int | None = None) -> None:
        super().__init__()
        self.judge = torch.nn.Dropout(0.1).eval()  # a frozen part that must stay in eval mode
        self.head = torch.nn.Dropout(0.1)
        self.device = torch.device("cpu")
        self.calls: list[list[str]] = []
        self.fail_on_call = fail_on_call
        self.generator = SimpleNamespace(profiles=self.generate_profiles)  # BumpModule.generator's one method used

    def generate_profiles(self, batch: UserGroupBatch) -> list[str]:
        assert not torch.is_grad_enabled() and not self.training and not self.head.training
        self.calls.append(list(batch.user_ids))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise RuntimeError("injected failure")
        return [f"profile of {user}: likes {len(user)} things" for user in batch.user_ids]

    @property
    def generated(self) -> list[str]:
        return [user for call in self.calls for user in call]


def fake_trainer(log_dir: Path, datamodule: Any, step: int, loggers: list[Any] | None = None) -> SimpleNamespace:
    """The attributes of a ``Trainer`` that the callbacks read, on a single process during a fit."""
    return SimpleNamespace(
        log_dir=str(log_dir),
        default_root_dir=str(log_dir),
        global_step=step,
        is_global_zero=True,
        strategy=SimpleNamespace(
            barrier=lambda name=None: None, broadcast=lambda obj, src=0: obj, root_device=torch.device("cpu"), model=None
        ),
        datamodule=datamodule,
        loggers=loggers or [],
        sanity_checking=False,
        state=SimpleNamespace(fn=TrainerFn.FITTING),
        ckpt_path=None,
    )


def in_run(callback: Any, log_dir: Path) -> Any:
    """``callback`` after the ``setup`` a Trainer logging to ``log_dir`` runs (it resolves the run folder there)."""
    callback.setup(fake_trainer(log_dir, None, 0), None, "fit")
    return callback


def set_up(trainer: SimpleNamespace, *callbacks: Any) -> SimpleNamespace:
    """``trainer`` with ``callbacks`` listed and set up, as ``Trainer.fit`` does before any other hook."""
    trainer.callbacks = list(callbacks)
    for callback in callbacks:
        callback.setup(trainer, None, "fit")
    return trainer
