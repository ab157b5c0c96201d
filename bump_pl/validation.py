"""Validation NDCG of generated profiles and of the judge-level baselines (the raw history as the profile).

For one greedy profile per user (``G = 1``) the judge ranks, with in-batch negatives, each
profile's held-out items (``profile_to_item``) and each item's profile (``item_to_profile``);
with ``reward.history_baselines`` the user's raw history does the same as the profile, cut to
``sampling.max_new_tokens`` policy tokens (``history_budget``) and whole (``history_full``).
The scores come from :func:`bump_pl.verdict.judge_scores`, the training reward's scoring call.
No Lightning here: the module feeds a :class:`ValidationNDCG` each batch and logs its ``compute``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from bump_pl.core.baselines import history_text
from bump_pl.core.reward import RewardSettings, same_user_mask
from bump_pl.judges.base import DIRECTIONS, Judge
from bump_pl.metrics import MultiPositiveNDCG
from bump_pl.verdict import judge_scores

PROFILE = "profile"
HISTORY_SOURCES = ("history_budget", "history_full")


def history_baselines(context: list[list[str]], tokenizer: Any, max_new_tokens: int) -> dict[str, list[str]]:
    """``{source: one text per user}``: each user's history cut to the profile's ``max_new_tokens``
    policy tokens (most recent kept), and whole."""
    return {
        "history_budget": [history_text(items, tokenizer, max_new_tokens) for items in context],
        "history_full": [history_text(items, tokenizer) for items in context],
    }


class ValidationNDCG(torch.nn.ModuleDict):
    """``{source: {direction: MultiPositiveNDCG}}`` for ``profile`` (and the history baselines).

    Args:
        settings: ``history_baselines`` adds the two history sources; ``ndcg_k`` cuts the NDCG,
            ``negatives`` and ``alpha`` as in the reward.
    """

    def __init__(self, settings: RewardSettings) -> None:
        sources = (PROFILE, *HISTORY_SOURCES) if settings.history_baselines else (PROFILE,)
        super().__init__(
            {s: torch.nn.ModuleDict({d: MultiPositiveNDCG(k=settings.ndcg_k) for d in DIRECTIONS}) for s in sources}
        )
        self.settings = settings
        self.ranking_users = 0  # users in the largest in-batch ranking seen since the last reset

    def score_batch(self, judge: Judge, texts: dict[str, list[str]], heldout: list[list[str]]) -> None:
        """Add this rank's users (one text each per source in ``texts``, ``K`` held-out items each)."""
        num_users, heldout_per_user = len(heldout), len(heldout[0])
        for source, profiles in texts.items():
            scores = judge_scores(judge, profiles, heldout, self.settings)
            first, total, device = scores.first_user, scores.num_users, scores.profile_to_item.device
            self.ranking_users = max(self.ranking_users, total)
            own_items = slice(first * heldout_per_user, (first + num_users) * heldout_per_user)
            # this rank's profiles (one per user) vs every item: the user's K items are relevant
            self[source]["profile_to_item"].update(
                scores.profile_to_item[first : first + num_users],
                same_user_mask(first, num_users, 1, total, heldout_per_user, device),
            )
            # this rank's items vs every profile: the item's own user's profile is relevant
            self[source]["item_to_profile"].update(
                scores.item_to_profile[own_items], same_user_mask(first, num_users, heldout_per_user, total, 1, device)
            )

    def reset(self) -> None:
        """Fresh states (states left by a previous loop may be inference-mode tensors)."""
        for per_direction in self.values():
            for metric in per_direction.values():
                metric.reset()
        self.ranking_users = 0

    def compute(self) -> dict[str, Tensor]:
        """``{name: 0-dim NDCG}`` over every rank: per source (``ndcg``, ``ndcg_history_budget``,
        ``ndcg_history_full``) both directions (``<name>_profile_to_item``, ``<name>_item_to_profile``)
        and their ``alpha``-weighted mean (``<name>``); and ``ranking_users``, the users one in-batch
        ranking holds (the NDCG grows as it shrinks: figures of other sizes are not comparable)."""
        alpha, out = self.settings.alpha, {"ranking_users": torch.tensor(float(self.ranking_users))}
        for source, per_direction in self.items():
            name = "ndcg" if source == PROFILE else f"ndcg_{source}"
            p2i, i2p = per_direction["profile_to_item"].compute(), per_direction["item_to_profile"].compute()
            out[f"{name}_profile_to_item"], out[f"{name}_item_to_profile"] = p2i, i2p
            out[name] = alpha * p2i + (1 - alpha) * i2p
        return out
