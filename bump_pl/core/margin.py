"""The margin reward: how much higher a judge scores a profile with its own user's items than with other users'.

The bidirectional NDCG reward (:mod:`bump_pl.core.reward`) keeps only the *order* of the judge's
scores. With a judge whose scores are small, noisy differences (the likelihood judge's PMI of a
held-out rating, a fraction of a nat), the order of ``U*K`` items flips on noise and GRPO's
group-relative advantages see mostly that noise. The margin keeps the scores' sizes:

- profile_to_item, rollout ``r`` of user ``u``: the mean of row ``r`` of ``profile_to_item`` over
  ``u``'s ``K`` items minus its mean over the ``(U-1)*K`` items of the other users;
- item_to_profile, rollout ``r`` of user ``u``: the mean over ``u``'s ``K`` items ``j`` of
  ``item_to_profile[j, r]`` minus the mean of row ``j`` over the ``(U-1)*G`` rollouts of the
  other users (``u``'s other rollouts are neither, as in the NDCG reward);
- ``total = alpha * profile_to_item + (1 - alpha) * item_to_profile``.

Both are 0 in expectation for a judge that scores at random (i.i.d. scores), so every chance level
is 0. In the judge's units (nats for the likelihood judge, cosine for an embedding judge), not in
[0, 1]: a ``copy_penalty`` is weighed against those units. Index convention and ``local_users`` as
in :func:`bump_pl.core.reward.bidirectional_reward`. Every candidate is scored, or, with ``scored``
(:mod:`bump_pl.core.negative_users`), each user's own and a uniform sample of the other users: the
other users' mean is then taken over the sample, an unbiased estimate of it (never hybrid rows).
"""

from __future__ import annotations

import torch
from torch import Tensor

from bump_pl.core.reward import BidirectionalReward, check_score_shapes, scored_user_range, same_user_mask


def _own_minus_others(rows: Tensor, own: Tensor, others: Tensor) -> Tensor:
    """``[N]`` the mean of each row of ``rows`` ``[N, C]`` over its ``own`` (bool ``[N, C]``) columns minus
    its mean over its ``others`` (bool ``[N, C]``) columns."""
    return _masked_mean(rows, own) - _masked_mean(rows, others)


def _masked_mean(rows: Tensor, mask: Tensor) -> Tensor:
    """``[N]`` the mean of each row of ``rows`` ``[N, C]`` over its ``mask`` (bool ``[N, C]``) columns."""
    return torch.where(mask, rows, torch.zeros_like(rows)).sum(-1) / mask.sum(-1)


def margin_reward(
    profile_to_item: Tensor,
    item_to_profile: Tensor,
    *,
    num_users: int,
    group_size: int,
    heldout_per_user: int,
    alpha: float = 0.5,
    local_users: slice | None = None,
    scored: Tensor | None = None,
) -> BidirectionalReward:
    """The margin reward of every rollout of ``local_users`` (all users by default).

    Args:
        profile_to_item: ``[U*G, U*K]`` profile ``r`` (query) vs interaction ``j`` (candidate).
        item_to_profile: ``[U*K, U*G]`` interaction ``j`` (query) vs profile ``r`` (candidate).
        num_users: ``U``, all users taking part (all ranks under DDP); at least 2.
        group_size: ``G`` rollouts per user.
        heldout_per_user: ``K`` held-out interactions per user.
        alpha: weight of the profile_to_item direction in ``total``.
        local_users: contiguous slice of users whose rollouts are scored (DDP: this rank's).
        scored: ``[U*G, U*K]`` bool, the pairs the judge scored (every user's own and a sample of
            other users, :func:`bump_pl.core.negative_users.negative_pair_mask`; its transpose for
            item_to_profile); the other users' means are taken over it. None: every pair.

    Returns:
        :class:`BidirectionalReward` with ``[u*G]`` margins (``u`` scored users) in rollout order and
        chance levels 0.
    """
    check_score_shapes(profile_to_item, item_to_profile, num_users, group_size, heldout_per_user, alpha, "margin_reward")
    if num_users < 2:
        raise ValueError("margin_reward: num_users must be >= 2 (the margin is against other users)")
    first, stop = scored_user_range(local_users, num_users, "margin_reward")
    device = profile_to_item.device
    if scored is None:
        scored = torch.ones(profile_to_item.shape, dtype=torch.bool, device=device)
    elif scored.shape != profile_to_item.shape:
        raise ValueError(f"margin_reward: scored must be [U*G, U*K] = {tuple(profile_to_item.shape)}, got {tuple(scored.shape)}")
    scored = scored.to(device)
    profile_rows = slice(first * group_size, stop * group_size)
    own_items = same_user_mask(first, stop - first, group_size, num_users, heldout_per_user, device)  # [u*G, U*K]
    p2i = _own_minus_others(profile_to_item[profile_rows], own_items, scored[profile_rows] & ~own_items)

    item_rows = slice(first * heldout_per_user, stop * heldout_per_user)
    rows = item_to_profile[item_rows]  # [u*K, U*G]
    own_rollouts = same_user_mask(first, stop - first, heldout_per_user, num_users, group_size, device)  # [u*K, U*G]
    others_mean = _masked_mean(rows, scored.T[item_rows] & ~own_rollouts)[:, None]  # [u*K, 1]
    own = rows[own_rollouts].view(stop - first, heldout_per_user, group_size)  # [u, K, G]
    i2p = (own - others_mean.view(stop - first, heldout_per_user, 1)).mean(dim=1).reshape(-1)  # [u*G]

    zero = p2i.new_zeros(())
    return BidirectionalReward(
        total=alpha * p2i + (1.0 - alpha) * i2p,
        profile_to_item=p2i,
        item_to_profile=i2p,
        chance_profile_to_item=zero,
        chance_item_to_profile=zero,
        chance=zero,
    )
