"""Profiles from a trained policy checkpoint, for any LaMP questions file (users seen in training or not).

Reuses the ``bump predict`` path: ``BumpDataModule.setup("predict")`` reads the questions file and
``profile_dataloader`` gives every user once with all of their history as context (no held-out
items); ``BumpModule.generate_profiles`` decodes greedily.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm
from typing_extensions import Self

from bump_pl.data import BumpDataModule
from bump_pl.judges.base import Direction
from bump_pl.utils import eval_mode


class _NoJudge:
    """Stands in for the checkpoint's judge (the ``Judge`` protocol): generating profiles never scores."""

    symmetric = True

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def to(self, device: str | torch.device) -> Self:
        return self

    def score(self, queries: list[str], candidates: list[str], direction: Direction) -> Tensor:
        raise RuntimeError("bump-downstream loads no judge: a checkpoint's policy only writes profiles here")


def load_policy(ckpt: str | Path, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The ``BumpModule`` of a checkpoint on ``device`` (base model reloaded, adapter restored).

    ``ckpt`` may also be a run folder (its newest ``last.ckpt``). No judge is built: generating
    profiles does not use one.
    """
    from bump_pl.module import BumpModule  # lazy: only the --ckpt path needs Lightning and the policy

    from bump_pl.runs.checkpoints import read_checkpoint, resolve_checkpoint

    path = resolve_checkpoint(ckpt, [])  # a file, or a run folder's newest last.ckpt
    read_checkpoint(path)  # a missing, truncated or corrupt file: one line naming it
    module = BumpModule.load_from_checkpoint(str(path), map_location=torch.device(device), judge=_NoJudge())
    return module.to(device)


def generate_profiles(
    module: torch.nn.Module,
    questions: Path,
    task: str,
    user_ids: Collection[str],
    *,
    max_prompt_tokens: int | None,
    batch_size: int,
) -> dict[str, str]:
    """``{user_id: greedy profile}`` for the users ``user_ids`` of the questions file ``questions``."""

    datamodule = BumpDataModule(
        data_dir=questions.parent,
        tokenizer=module.tokenizer,
        task=task,
        users_per_batch=batch_size,
        max_prompt_tokens=max_prompt_tokens,
        profile_prompt=module.profile_prompt,  # the question the policy was trained on
        predict_file=questions,
    )
    datamodule.setup("predict")
    wanted = set(user_ids)
    others = [user.user_id for user in datamodule.users["predict"] if user.user_id not in wanted]
    profiles: dict[str, str] = {}
    with torch.no_grad(), eval_mode(module):
        loader = datamodule.profile_dataloader("predict", exclude=others)
        for batch in tqdm(loader, desc=f"profiles {questions.name}", dynamic_ncols=True):
            texts = module.generate_profiles(batch.to(module.device))
            profiles.update(zip(batch.user_ids, texts))
    return profiles
