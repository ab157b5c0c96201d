"""Profiles from a trained policy checkpoint, for any LaMP questions file (users seen in training or not).

Reuses the ``bump predict`` path: ``BumpDataModule.setup("predict")`` reads the questions file and
``profile_dataloader`` gives every user once with all of their history as context (no held-out
items); the checkpoint's :class:`~bump_pl.models.generator.ProfileGenerator` decodes greedily, as
``BumpModule.predict_step`` does. No judge and no Lightning module are built.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import torch
from tqdm.auto import tqdm

from bump_pl.data import BumpDataModule
from bump_pl.models.generator import ProfileGenerator


def load_policy(ckpt: str | Path, device: torch.device | str = "cpu", *, trained: bool = True) -> ProfileGenerator:
    """The profile generator of a ``bump fit`` checkpoint on ``device`` (base model reloaded, adapter restored).

    ``ckpt`` may also be a run folder (its newest ``last.ckpt``). ``trained=False``: the same generator
    before training, its weights not restored (:meth:`ProfileGenerator.from_checkpoint`).
    """
    from bump_pl.runs.checkpoints import read_checkpoint, resolve_checkpoint

    path = resolve_checkpoint(ckpt, [])  # a file, or a run folder's newest last.ckpt
    checkpoint = read_checkpoint(path)  # a missing, truncated or corrupt file: one line naming it
    try:
        generator = ProfileGenerator.from_checkpoint(checkpoint, trained=trained)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return generator.to(device)


def generate_profiles(
    generator: ProfileGenerator,
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
        tokenizer=generator.tokenizer,
        task=task,
        users_per_batch=batch_size,
        max_prompt_tokens=max_prompt_tokens,
        profile_prompt=generator.profile_prompt,  # the question the policy was trained on
        predict_file=questions,
    )
    datamodule.setup("predict")
    wanted = set(user_ids)
    others = [user.user_id for user in datamodule.users["predict"] if user.user_id not in wanted]
    profiles: dict[str, str] = {}
    loader = datamodule.profile_dataloader("predict", exclude=others)
    for batch in tqdm(loader, desc=f"profiles {questions.name}", dynamic_ncols=True):
        profiles.update(zip(batch.user_ids, generator.profiles(batch.to(generator.device))))
    return profiles
