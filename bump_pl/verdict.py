"""The judge's verdict on a batch of profiles: one scoring call, shared by the training reward and validation.

:func:`judge_scores` scores ``U*G`` profiles against the ``U*K`` held-out items of their users in
both directions, with in-batch negatives (this rank's users under ``negatives: local``, every
rank's under ``global``, every rank's scored only for the hardest under ``hybrid``; a training
step may score each user against a sample of ``negative_users``, validation scores every pair);
:func:`rollout_reward` turns those scores into the bidirectional reward of the rollouts (NDCG or
margin, as ``settings.measure`` says), :func:`rollout_ndcg` into their NDCG whatever the measure
(the yardstick of experiments/ladder.py and judge_check.py), and
:class:`bump_pl.validation.ValidationNDCG` into validation NDCG. No Lightning here.
"""

from __future__ import annotations

import torch

from bump_pl.core.margin import margin_reward
from bump_pl.core.reward import BidirectionalReward, RewardSettings, bidirectional_reward
from bump_pl.judges.base import Judge
from bump_pl.judges.in_batch import InBatchScores, hybrid_negatives, in_batch_scores


def judge_scores(judge: Judge, profiles: list[str], heldout: list[list[str]], settings: RewardSettings,
                 negative_users: int = 0) -> InBatchScores:
    """Both directions' scores of this rank's ``U*G`` profiles (``r = u*G + g``) against the
    ``U*K`` held-out items ``heldout`` (``K`` per user), negatives as ``settings.negatives`` says;
    ``negative_users`` (a training step passes ``settings.negative_users``) scores each user against
    that many other users only (0: every pair, what validation and the ladders rank)."""
    return in_batch_scores(
        judge,
        profiles,
        [item for items in heldout for item in items],
        num_users=len(heldout),
        global_negatives=settings.negatives != "local",
        hybrid=hybrid_negatives(settings),
        negative_users=negative_users,
    )


def all_finite(scores: InBatchScores) -> bool:
    """No NaN or inf in either direction's scores."""
    return all(bool(torch.isfinite(rows).all()) for rows in (scores.profile_to_item, scores.item_to_profile))


def rollout_reward(
    scores: InBatchScores, *, num_users: int, group_size: int, heldout_per_user: int, settings: RewardSettings
) -> BidirectionalReward:
    """The bidirectional reward ``[U*G]`` of this rank's ``U = num_users`` users' rollouts (``G`` each,
    ``K = heldout_per_user`` held-out items each), against every user in ``scores``: their NDCG
    (:func:`rollout_ndcg`), or with ``settings.measure == "margin"`` their margin over the other
    users (:mod:`bump_pl.core.margin`)."""
    if settings.measure == "margin":
        return margin_reward(scores.profile_to_item, scores.item_to_profile, num_users=scores.num_users,
                             group_size=group_size, heldout_per_user=heldout_per_user, alpha=settings.alpha,
                             local_users=slice(scores.first_user, scores.first_user + num_users), scored=scores.scored)
    return rollout_ndcg(scores, num_users=num_users, group_size=group_size, heldout_per_user=heldout_per_user,
                        settings=settings)


def rollout_ndcg(
    scores: InBatchScores, *, num_users: int, group_size: int, heldout_per_user: int, settings: RewardSettings
) -> BidirectionalReward:
    """The bidirectional NDCG ``[U*G]`` of this rank's ``U = num_users`` users' rollouts, ranked against
    every user in ``scores`` with ``settings``' alpha and NDCG cut-off (its ``measure`` is not read).

    Raises:
        ValueError: ``scores`` of a sample of negative users (their unscored pairs would rank as 0).
    """
    if scores.scored is not None:
        raise ValueError("rollout_ndcg: these scores pair each user with a sample of negative users; NDCG needs every"
                         " pair scored (judge_scores with negative_users=0)")
    return bidirectional_reward(
        scores.profile_to_item,
        scores.item_to_profile,
        num_users=scores.num_users,
        group_size=group_size,
        heldout_per_user=heldout_per_user,
        alpha=settings.alpha,
        k=settings.ndcg_k,
        local_users=slice(scores.first_user, scores.first_user + num_users),
        hard_negatives=scores.hard_negatives,
        sampled_negatives=scores.sampled_negatives,
    )
