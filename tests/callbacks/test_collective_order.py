"""Every rank reaches the same collectives in the same order through the callbacks' hooks.

Under DDP, ``trainer.log_dir``, ``strategy.broadcast`` and ``strategy.barrier`` are collectives: a
rank that reaches one the others do not (from an ``is_global_zero`` branch) deadlocks the run. Two
stand-in trainers, rank 0 and rank 1, record the collectives the callbacks reach over the hooks of
the tiny config's fit (a validation before fit, validations at steps 2 and 4, a cache every 2nd);
rank 1 is given rank 0's broadcast values, as the real collective would.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from lightning.pytorch.trainer.states import TrainerFn

from bump_pl.callbacks import DownstreamEvalCallback, ProfileCacheCallback, ProfileWriter
from bump_pl.downstream.settings import DownstreamSettings
from callback_fakes import FakeGenerator, make_datamodule


class RankTrainer:
    """The trainer attributes the callbacks read, on one rank of two, recording each collective."""

    def __init__(self, rank: int, log_dir: Path, datamodule: Any, broadcasts: list[Any]) -> None:
        self.global_rank, self.world_size, self.is_global_zero = rank, 2, rank == 0
        self.calls: list[str] = []
        self._log_dir, self._broadcasts = log_dir, broadcasts
        self.default_root_dir, self.datamodule, self.loggers = str(log_dir), datamodule, []
        self.global_step, self.sanity_checking, self.ckpt_path = 0, False, None
        self.state = SimpleNamespace(fn=TrainerFn.VALIDATING)
        self.strategy = SimpleNamespace(
            barrier=lambda name=None: self.calls.append(f"barrier {name}"),
            broadcast=self._broadcast,
            root_device=torch.device("cpu"),
            model=None,
        )
        self.callbacks: list[Any] = []

    @property
    def log_dir(self) -> str:
        self.calls.append("log_dir")
        return str(self._log_dir)

    def _broadcast(self, obj: Any, src: int = 0) -> Any:
        self.calls.append("broadcast")
        if self.is_global_zero:
            self._broadcasts.append(obj)
            return obj
        return self._broadcasts.pop(0)  # rank 0's value, as the collective delivers it


def _fit_hooks(trainer: RankTrainer, module: Any) -> None:
    """The callback hooks of ``bump fit --config tiny`` in Lightning's order (validate before fit first)."""
    callbacks = trainer.callbacks
    for callback in callbacks:
        callback.setup(trainer, module, "validate")
    for hook in ("on_validation_start", "on_validation_end"):
        for callback in callbacks:
            getattr(callback, hook)(trainer, module)
    trainer.state.fn = TrainerFn.FITTING
    for callback in callbacks:
        callback.setup(trainer, module, "fit")
    for callback in callbacks:
        callback.on_train_start(trainer, module)
    for step in (2, 4):
        trainer.global_step = step
        for hook in ("on_validation_start", "on_validation_end"):
            for callback in callbacks:
                getattr(callback, hook)(trainer, module)
    for callback in callbacks:
        callback.on_fit_end(trainer, module)


def test_every_rank_reaches_the_same_collectives_in_the_same_order(lamp3_dir: Path, tmp_path: Path) -> None:
    broadcasts: list[Any] = []
    calls = {}
    for rank in (0, 1):
        trainer = RankTrainer(rank, tmp_path / "run", make_datamodule(lamp3_dir), broadcasts)
        trainer.callbacks = [
            ProfileCacheCallback(splits=["train", "val"], every_n_validations=2),
            DownstreamEvalCallback(
                DownstreamSettings(backbone="tiny-random-llama", mode="zero_shot", max_answer_tokens=2, context_tokens=16)
            ),
            ProfileWriter(),
        ]
        _fit_hooks(trainer, FakeGenerator())
        calls[rank] = trainer.calls
    assert (tmp_path / "run" / "downstream" / "step-000004" / "report.json").is_file()  # rank 0 did the work
    assert calls[0].count("barrier profile_cache") == 1 and calls[0].count("barrier downstream_eval") == 1
    assert calls[1] == calls[0]
