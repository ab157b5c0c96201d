"""Negative users: score each user against a uniform sample of the other users, the same pairs both ways.

A pair judge (the likelihood judge) pays one forward per (profile, item) pair, ``Q*C*T``
token-forwards for ``Q = U*G`` profiles and ``C = U*K`` items. The margin reward
(:mod:`bump_pl.core.margin`) needs, per rollout, the mean score of its own user's items and the
mean score of the other users' items; a uniform sample of the other users estimates that second
mean without bias, at a fraction of the pairs. (NDCG is not linear in the ranks, so a sample does
not estimate it: :mod:`bump_pl.core.negatives`.)

The draw places the ``U`` users on a circle in a uniformly random order and pairs each user with the
``m`` users that follow it. For user ``u`` those ``m`` are a uniformly random ``m``-subset of its
``U - 1`` others (profile to item: unbiased), and ``u`` is read by exactly the ``m`` users that
precede it, again a uniformly random ``m``-subset (item to profile: unbiased). So one ``[U*G, U*K]``
mask serves both directions (its transpose for item to profile), and a symmetric judge scores
``(m + 1) / U`` of the pairs, each once.

Pure tensor functions: no judge, no Lightning, no ``torch.distributed``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def negative_user_pairs(num_users: int, negative_users: int, seed: int) -> Tensor:
    """``[U, U]`` bool: user ``u`` (row) is scored against user ``v`` (column) where True.

    Args:
        num_users: ``U``, users in the ranking (``>= 2``).
        negative_users: ``m >= 1`` other users per user; ``m >= U - 1`` pairs every user with every user.
        seed: seeds the random order (equal seeds, equal pairs: every rank draws the same).

    Returns:
        The diagonal and ``m`` other users per row; every column also holds ``m`` other users.
    """
    if num_users < 2 or not isinstance(negative_users, int) or negative_users < 1:
        raise ValueError(f"negative_user_pairs: need num_users >= 2 and negative_users >= 1, got {num_users}, {negative_users!r}")
    m = min(negative_users, num_users - 1)
    order = torch.randperm(num_users, generator=torch.Generator().manual_seed(seed))  # circle position -> user
    place = torch.empty_like(order).scatter_(0, order, torch.arange(num_users))  # user -> circle position
    ahead = (place[None, :] - place[:, None]) % num_users  # [U, U]: steps from row user to column user
    return ahead <= m


def negative_pair_mask(num_users: int, negative_users: int, rows_per_user: int, cols_per_user: int, seed: int) -> Tensor:
    """``[U*a, U*b]`` bool: :func:`negative_user_pairs` expanded to ``a = rows_per_user`` rows and
    ``b = cols_per_user`` columns per user (``u*a + i`` index convention), e.g. ``[U*G, U*K]``
    profiles against items; its transpose is the item-to-profile mask."""
    pairs = negative_user_pairs(num_users, negative_users, seed)
    return pairs.repeat_interleave(rows_per_user, dim=0).repeat_interleave(cols_per_user, dim=1)
