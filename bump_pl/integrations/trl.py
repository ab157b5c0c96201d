"""BUMP's reward inside TRL: a reward function for ``trl.GRPOTrainer`` (``reward_funcs=[...]``).

TRL hands a reward function the whole generation batch: prompts, completions and the dataset's
extra columns. That is enough for BUMP's in-batch reward: completions are grouped by a ``user_id``
column into ``U`` groups of ``G``, scored by a bump-pl judge against every user's held-out items in
both directions, and turned into rewards by the same calls as ``BumpModule``'s training step
(:func:`bump_pl.verdict.judge_scores`, :func:`bump_pl.verdict.rollout_reward`, and the copy penalty
with a ``history`` column). TRL itself is not imported: the object is a plain callable.

    from trl import GRPOConfig, GRPOTrainer
    from bump_pl.integrations.trl import BumpReward
    reward = BumpReward(EmbeddingJudge(), heldout={"u1": [...], ...}, group_size=8)
    GRPOTrainer(model=..., reward_funcs=[reward], args=GRPOConfig(num_generations=8, ...),
                train_dataset=Dataset.from_dict({"prompt": prompts, "user_id": user_ids}))

Each generation batch must hold exactly ``G`` completions of every user in it (TRL's sampler repeats
each prompt ``num_generations`` times inside a batch; set ``G`` to it), and at least two users,
since the other users are the negatives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bump_pl.core.copy_rate import copy_penalised, copy_rates
from bump_pl.core.reward import RewardSettings
from bump_pl.judges.base import Judge
from bump_pl.verdict import judge_scores, rollout_reward


class BumpReward:
    """The bidirectional in-batch BUMP reward of one TRL generation batch.

    Args:
        judge: a bump-pl judge (``EmbeddingJudge``, ``CrossJudge`` or anything with ``.score``).
        heldout: ``{user_id: K held-out interaction texts}`` (never shown to the policy; equal K).
        group_size: ``G`` completions per user in every batch (TRL's ``num_generations``).
        settings: direction weight, NDCG cut-off, negatives and copy penalty (as ``model.reward``);
            ``copy_penalty > 0`` needs a ``history`` column (the user's context items, a list of strings).

    Attributes:
        batch_means: the mean reward of every batch scored so far.
    """

    __name__ = "bump_reward"  # TRL names its reward metrics after the function's __name__

    def __init__(
        self, judge: Judge, heldout: Mapping[str, Sequence[str]], group_size: int, settings: RewardSettings | None = None
    ) -> None:
        sizes = {len(items) for items in heldout.values()}
        if len(sizes) != 1 or 0 in sizes:
            raise ValueError(f"BumpReward: every user needs the same number (>= 1) of held-out items, got {sorted(sizes)}")
        self.judge, self.heldout, self.group_size = judge, heldout, group_size
        self.settings = settings or RewardSettings()
        self.batch_means: list[float] = []

    def __call__(
        self, prompts: list[Any], completions: list[Any], user_id: list[str], history: list[list[str]] | None = None, **_: Any
    ) -> list[float]:
        """One reward per completion, in TRL's order, whatever order its sampler put the users in."""
        users = list(dict.fromkeys(user_id))
        rows = [[i for i, uid in enumerate(user_id) if uid == user] for user in users]
        if any(len(r) != self.group_size for r in rows) or len(users) < 2:
            counts = {user: len(r) for user, r in zip(users, rows)}
            raise ValueError(f"BumpReward: each of >= 2 users needs exactly G={self.group_size} completions per batch, got {counts}")
        missing = [user for user in users if user not in self.heldout]
        if missing:
            raise ValueError(f"BumpReward: no held-out items for users {missing}")
        order = [i for r in rows for i in r]  # rollout r = u*G + g  ->  TRL position order[r]
        profiles = [_text(completions[i]) for i in order]
        heldout = [list(self.heldout[user]) for user in users]
        scores = judge_scores(self.judge, profiles, heldout, self.settings, self.settings.negative_users)
        reward = rollout_reward(
            scores, num_users=len(users), group_size=self.group_size, heldout_per_user=len(heldout[0]), settings=self.settings
        ).total
        if self.settings.copy_penalty:
            if history is None:
                raise ValueError("BumpReward: copy_penalty needs a 'history' column (each user's context items)")
            contexts = [list(history[r[0]]) for r in rows]
            reward = copy_penalised(reward, copy_rates(profiles, contexts, self.group_size), self.settings.copy_penalty)
        out = [0.0] * len(order)
        for r, position in enumerate(order):
            out[position] = float(reward[r])
        self.batch_means.append(float(reward.mean()))
        return out


def _text(completion: Any) -> str:
    """A completion's text: TRL passes strings for text prompts, message lists for chat prompts."""
    if isinstance(completion, list):
        return "".join(message["content"] for message in completion)
    return str(completion)
