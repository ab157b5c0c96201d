"""``ProfileCacheCallback``: one greedy profile per user of some splits, cached on disk per global step.

When: after every ``every_n_validations``-th validation of a fit (``when="validation"``), or once at
the end of the fit (``when="fit_end"``). The cache lands in ``<trainer.log_dir>/profiles/step-XXXXXX/``
(see :mod:`bump_pl.runs.profile_store` for the layout, atomicity and resume), and a few profiles
go to the run's loggers as a text table (:mod:`bump_pl.text_logging`). ``DownstreamEvalCallback``
reads the latest cache via ``latest``.

Resume: the cache is marked begun (its ``.partial-step-S`` folder) when the validation that will
write it starts. A fit resumed from the checkpoint of step S (Lightning does not repeat the
validation of the checkpoint's step) completes that cache first, with step S's weights, reusing the
batches already written; a partial cache of any other step cannot be completed with its weights
and is removed (a warning names it).

Distributed runs: global rank 0 generates and writes every profile while the other ranks wait at a
barrier (profiles are a few hundred short greedy generations; not worth sharding). This runs outside
the strategy's wrapped forward, so every rank first enters :func:`~bump_pl.strategies.full_params.full_parameters`:
under FSDP (one unit, ``configs/strategy/fsdp.yaml``) and FSDP2 the policy is gathered whole for the
duration; DDP and ZeRO-2 need nothing; nested FSDP units and ZeRO-3 are refused with one line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from bump_pl.callbacks.progress import track
from bump_pl.callbacks.run_subfolder import RunSubfolderCallback
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn

from bump_pl.models.modes import eval_mode
from bump_pl.runs.profile_store import (
    partial_dir,
    partial_steps,
    promote,
    read_shards,
    remove_partial,
    remove_stale_temps,
    step_dir,
    write_shard,
)
from bump_pl.strategies.full_params import full_parameters
from bump_pl.text_logging import log_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedProfiles:
    """Where the cache of one global step lives."""

    path: Path
    step: int


class ProfileCacheCallback(RunSubfolderCallback):
    """Cache one greedy profile per user (the module's :class:`~bump_pl.models.generator.ProfileGenerator`,
    ``pl_module.generator``) for ``splits``.

    Args:
        splits: data-module splits to profile, e.g. ``["train", "val"]``.
        when: ``"validation"`` (after validations of a fit) or ``"fit_end"``.
        every_n_validations: with ``when="validation"``, cache after every n-th validation.
        num_logged: profiles per split logged as a text table to every logger (0: none).
    """

    SUBFOLDER = "profiles"

    def __init__(
        self,
        splits: list[str] | None = None,
        when: Literal["validation", "fit_end"] = "validation",
        every_n_validations: int = 1,
        num_logged: int = 4,
    ) -> None:
        if when not in ("validation", "fit_end"):
            raise ValueError(f"ProfileCacheCallback: when must be 'validation' or 'fit_end', got {when!r}")
        if every_n_validations < 1:
            raise ValueError(f"ProfileCacheCallback: every_n_validations must be >= 1, got {every_n_validations}")
        self.splits = list(splits) if splits is not None else ["train", "val"]
        if not self.splits:
            raise ValueError("ProfileCacheCallback: splits is empty")
        self.when, self.every_n_validations, self.num_logged = when, every_n_validations, num_logged
        self.validations = 0
        self.latest: CachedProfiles | None = None

    # ----------------------------------------------------------------------------- hooks
    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._due_after_this_validation(trainer) and trainer.is_global_zero:
            partial_dir(self.root, trainer.global_step).mkdir(parents=True, exist_ok=True)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.when != "validation" or trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        self.validations += 1
        if self.validations % self.every_n_validations == 0:
            self.write(trainer, pl_module)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.ckpt_path:
            self._finish_interrupted(trainer, pl_module)

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # A fit resumed at its last step trains nothing (no on_train_start) but may owe that step's cache.
        self._finish_interrupted(trainer, pl_module)
        if self.when == "fit_end":
            self.write(trainer, pl_module)

    def state_dict(self) -> dict[str, Any]:
        return {"validations": self.validations}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.validations = int(state_dict["validations"])

    # ----------------------------------------------------------------------------- work
    def _due_after_this_validation(self, trainer: Trainer) -> bool:
        fitting = not trainer.sanity_checking and trainer.state.fn == TrainerFn.FITTING
        return self.when == "validation" and fitting and (self.validations + 1) % self.every_n_validations == 0

    def _finish_interrupted(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Complete the cache a killed run was writing at the restored step; remove other partial caches."""
        root, step = self.root, trainer.global_step
        steps = trainer.strategy.broadcast(partial_steps(root) if trainer.is_global_zero else [])
        for stale in steps:
            if stale != step and trainer.is_global_zero:
                log.warning("%s: removed the unfinished profile cache of step %d (resumed at step %d)", root, stale, step)
                remove_partial(root, stale)
        if step in steps:
            if self.when == "validation":
                self.validations += 1  # the validation it followed is not repeated by Lightning
            self.write(trainer, pl_module)

    def write(self, trainer: Trainer, pl_module: LightningModule) -> CachedProfiles:
        """Cache this global step's profiles (rank 0; a complete cache of this step is kept as is).

        Every rank calls it: all enter :func:`full_parameters` and wait at the barrier inside it.
        """
        root, step = self.root, trainer.global_step
        with full_parameters(trainer):  # every rank: a sharded policy is gathered while rank 0 generates
            if trainer.is_global_zero and not step_dir(root, step).is_dir():
                rows = self._generate(trainer, pl_module, root, step)
                promote(root, step, rows)
                self._log_text(trainer, rows, step)
            trainer.strategy.barrier("profile_cache")
        self.latest = CachedProfiles(step_dir(root, step), step)
        return self.latest

    def _generate(self, trainer: Trainer, pl_module: LightningModule, root: Path, step: int) -> list[dict[str, Any]]:
        """Every user's row for ``step`` in data-module order, generating only those not in a shard yet."""
        datamodule = trainer.datamodule
        if datamodule is None or not hasattr(datamodule, "profile_dataloader"):
            raise RuntimeError("ProfileCacheCallback needs a BumpDataModule (with profile_dataloader) on the trainer")
        missing = [split for split in self.splits if split not in datamodule.users]
        if missing:
            raise ValueError(f"ProfileCacheCallback: splits {missing} are not in the data module ({list(datamodule.users)})")
        remove_stale_temps(root)
        done = {(row["split"], row["user_id"]): row for row in read_shards(root, step)}
        with torch.no_grad(), eval_mode(pl_module):
            for split in self.splits:
                cached = {user for cached_split, user in done if cached_split == split}
                loader = datamodule.profile_dataloader(split, exclude=cached)
                for batch in track(trainer, loader, len(loader), f"profiles {split} @ step {step}"):
                    texts = pl_module.generator.profiles(batch.to(pl_module.device))
                    rows = [
                        {"user_id": user, "split": split, "step": step, "profile": text}
                        for user, text in zip(batch.user_ids, texts)
                    ]
                    write_shard(root, step, rows)
                    done.update({(split, row["user_id"]): row for row in rows})
        return [done[(split, user.user_id)] for split in self.splits for user in datamodule.users[split]]

    def _log_text(self, trainer: Trainer, rows: list[dict[str, Any]], step: int) -> None:
        """A table of the first ``num_logged`` profiles of each split, ``profiles/<split>``, to every logger."""
        if self.num_logged <= 0:
            return
        for split in self.splits:
            shown = [row for row in rows if row["split"] == split][: self.num_logged]
            table = [[row["user_id"], row["profile"]] for row in shown]
            log_text(trainer.loggers, f"profiles/{split}", ["user", "profile"], table, step)
