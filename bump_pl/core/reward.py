"""The bidirectional in-batch reward of BUMP, as bump-pl reads it.

The paper describes a label-free reward from a frozen judge that ranks in two directions but
does not publish the exact formula; this module is our concrete, documented reading of it.

Index convention: ``U`` users, ``G`` rollouts (profiles) per user, ``K`` held-out
interactions per user. Rollout ``r = u*G + g``; held-out interaction ``j = u*K + k``.

Inputs are the judge's scores:

- ``profile_to_item[r, j]`` ``[U*G, U*K]``: profile ``r`` as query, interaction ``j`` as candidate.
- ``item_to_profile[j, r]`` ``[U*K, U*G]``: interaction ``j`` as query, profile ``r`` as
  candidate. A symmetric judge (e.g. cosine of embeddings) passes ``profile_to_item.T``.

(The judges' names for the two ranking directions; "forward/backward" stays with autograd.)

Directions, for rollout ``r`` of user ``u``:

- profile_to_item (i): NDCG of row ``r`` of ``profile_to_item`` over all ``U*K`` interactions, the ``K``
  interactions of ``u`` relevant (multi-positive). Other users' interactions are negatives.
- item_to_profile (ii): for each of ``u``'s interactions ``j``, rank ``r`` among the candidates
  ``{r} ∪ {every rollout of every other user}`` by ``item_to_profile[j]``; ``r`` is the only
  relevant one. ``u``'s other rollouts are left out: they are the same user's profiles, not
  negatives, and the G samples must not compete with each other. The score is the NDCG of
  that list, ``1 / log2(1 + rank)`` (tie-averaged, cut at ``k``), averaged over the ``K``
  interactions.
- ``total = alpha * profile_to_item + (1 - alpha) * item_to_profile``; ``alpha`` 1 or 0 are the
  single-direction ablations.

Both directions use the tie semantics of :func:`bump_pl.metrics.functional.multi_positive_ndcg`
(tied candidates share their positions' mean discount) and the same cut-off ``k``.

Chance levels are exact expectations under a uniformly random ranking: with ``P`` relevant
among ``C`` candidates every position holds a relevant one with probability ``P / C``, so
``E[NDCG] = (P / C) * sum_{i<=min(C,k)} d(i) / sum_{i<=min(P,k)} d(i)``, ``d(i) = 1/log2(i+1)``.
Profile_to_item: ``P = K``, ``C = U*K``. Item_to_profile: ``P = 1``, ``C = 1 + (U-1)*G``. With ``U = 1``
there are no negatives and every reward (and chance) is 1: no signal.

Cross-rank negatives (DDP): the caller gathers the *global* score matrices (rows and columns
over all ranks' users, in rank order, as :mod:`bump_pl.judges.in_batch` does) and passes
``local_users=slice(first_user, first_user + U_local)``. Only those users' rollouts are scored
(profile_to_item rows and item_to_profile query rows of those users), against candidates of every rank;
results have ``U_local * G`` entries, and chance levels use the global sizes.

Hybrid negatives (:mod:`bump_pl.core.negatives`): the matrices hold the cross judge's scores of
each query's positives and ``hard_negatives`` hardest negatives, every other entry ranked last;
the NDCG is then the one over that scored list, and ``hard_negatives`` makes the chance levels
those of the scored list: ``C = K + min(k, (U-1)*K)`` and ``C = 1 + min(k, (U-1)*G)``.
With ``sampled_negatives`` the other entries are imputed from a uniform sample of them instead
(:func:`bump_pl.core.negatives.impute_from_sample`): the rows are then plug-in estimates of the
full ones, biased upward, and the chance levels are the estimator's own
(:func:`bump_pl.core.negatives.sampled_chance_ndcg`): what a judge ranking at random scores through
it, above the full ranking's chance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from bump_pl.core.negatives import sampled_chance_ndcg
from bump_pl.metrics.functional import check_finite, discounts, multi_positive_ndcg, tie_averaged_discount


@dataclass
class RewardSettings:
    """How profiles are rewarded and validated (a dataclass so ``bump fit --help`` groups them as
    ``--model.reward.*``).

    Attributes:
        measure: what the training reward measures of the judge's scores: ``ndcg``, the ranks of a
            user's items and profile among other users' (the paper's reading), or ``margin``, how much
            higher the judge scores them than other users' (:mod:`bump_pl.core.margin`, in the judge's
            units; every candidate scored, so not with ``hybrid``). Validation is NDCG either way.
        alpha: weight of the profile_to_item direction (1 or 0: one direction only).
        ndcg_k: NDCG cut-off of the reward and of validation (None ranks the whole list).
        negatives: ``global`` ranks against the users of every rank, ``local`` only this rank's;
            ``hybrid`` ranks against every rank's users with the ``retriever`` and has the judge
            score only each query's positives and ``hard_negatives`` hardest negatives.
        hard_negatives: ``k``, negatives per query the judge scores with ``hybrid``.
        sampled_negatives: ``m``, with ``hybrid`` the judge also scores ``m`` negatives per query
            drawn uniformly from those the retriever did not choose, and each stands for its share
            of the unscored ones (:func:`bump_pl.core.negatives.impute_from_sample`): the reward
            then estimates ``global``'s NDCG over every candidate (a plug-in estimate, biased
            upward; ``train/reward_chance`` is its own chance level) instead of the NDCG over the
            scored list. 0: the unscored rank last.
        retriever: embedding model (name, folder or alias, mean pooling) that ranks every
            candidate with ``hybrid``.
        negative_users: ``m``, with ``measure: margin`` each training step scores every user against
            ``m`` other users drawn uniformly (:mod:`bump_pl.core.negative_users`), the same pairs
            in both directions: ``(m + 1) / U`` of a pair judge's cost, the margin estimated without
            bias. 0: every user. Validation always scores every pair.
        history_baselines: also validate the user's raw history as the profile, cut to
            ``sampling.max_new_tokens`` policy tokens and whole (``val/ndcg_history_budget``,
            ``val/ndcg_history_full``): what a generated profile has to beat.
        copy_penalty: weight of ``train/copy_rate`` (share of a profile's word 8-grams copied
            verbatim from the user's history) subtracted from the reward; 0 only logs it.
    """

    measure: Literal["ndcg", "margin"] = "ndcg"
    alpha: float = 0.5
    ndcg_k: int | None = None
    negatives: Literal["global", "local", "hybrid"] = "global"
    hard_negatives: int = 16
    sampled_negatives: int = 0
    retriever: str = "all-minilm-l6-v2"
    negative_users: int = 0
    history_baselines: bool = True
    copy_penalty: float = 0.0

    def __post_init__(self) -> None:
        if self.measure not in ("ndcg", "margin"):
            raise ValueError(f"model.reward.measure must be 'ndcg' or 'margin', got {self.measure!r}")
        if self.measure == "margin" and self.negatives == "hybrid":
            raise ValueError("model.reward.measure: margin needs every negative scored; use negatives: global or local"
                             " (hybrid scores only the hardest)")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"model.reward.alpha must be in [0, 1], got {self.alpha}")
        if self.ndcg_k is not None and self.ndcg_k < 1:
            raise ValueError(f"model.reward.ndcg_k must be >= 1 or null, got {self.ndcg_k}")
        if self.negatives not in ("global", "local", "hybrid"):
            raise ValueError(f"model.reward.negatives must be 'global', 'local' or 'hybrid', got {self.negatives!r}")
        for name in ("hard_negatives", "sampled_negatives", "negative_users"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"model.reward.{name} must be an int >= 0, got {getattr(self, name)!r}")
        if self.negatives == "hybrid" and self.hard_negatives + self.sampled_negatives < 1:
            raise ValueError("model.reward.hard_negatives + model.reward.sampled_negatives must be >= 1: "
                             "with neither, hybrid would score no negative at all")
        if self.sampled_negatives and self.negatives != "hybrid":
            raise ValueError(f"model.reward.sampled_negatives={self.sampled_negatives} needs model.reward.negatives: "
                             f"hybrid, got {self.negatives!r} (which scores every negative already)")
        if self.negative_users and self.measure != "margin":
            raise ValueError(f"model.reward.negative_users={self.negative_users} needs model.reward.measure: margin"
                             " (a mean over a sample of users estimates the margin; NDCG over a sample is another ranking)")


class BidirectionalReward(NamedTuple):
    """Rewards of the scored rollouts (``R = U_local * G`` of them) and their chance levels.

    Attributes:
        total: ``[R]`` ``alpha * profile_to_item + (1 - alpha) * item_to_profile``.
        profile_to_item: ``[R]`` direction (i), profile ranks its user's interactions.
        item_to_profile: ``[R]`` direction (ii), interactions rank their user's profile.
        chance_profile_to_item: 0-dim, expected ``profile_to_item`` of a judge that ranks at random
            (through the same estimator: with sampled negatives above the full ranking's chance).
        chance_item_to_profile: 0-dim, the same for ``item_to_profile``.
        chance: 0-dim, ``alpha * chance_profile_to_item + (1 - alpha) * chance_item_to_profile``.
    """

    total: Tensor
    profile_to_item: Tensor
    item_to_profile: Tensor
    chance_profile_to_item: Tensor
    chance_item_to_profile: Tensor
    chance: Tensor


def chance_ndcg(num_relevant: int, num_candidates: int, k: int | None = None) -> float:
    """Exact expected NDCG of a uniformly random ranking of ``num_candidates``, ``num_relevant`` binary relevant."""
    if not 1 <= num_relevant <= num_candidates:
        raise ValueError(f"chance_ndcg: need 1 <= num_relevant <= num_candidates, got {num_relevant}, {num_candidates}")
    d = discounts(num_candidates, k)
    return float(num_relevant / num_candidates * d.sum() / d[:num_relevant].sum())


def check_ranking_size(users_per_rank: int, world_size: int, negatives: str) -> None:
    """Refuse in-batch rankings of fewer than 2 users (nothing to learn or measure).

    Args:
        users_per_rank: ``U``, users of one rank's batch (``data.users_per_batch``).
        world_size: ranks; their users share a ranking unless ``negatives`` is ``local``.
        negatives: ``model.reward.negatives``.

    Raises:
        ValueError: one line saying why (no negatives: every reward 1, loss 0, val/ndcg 1.0).
    """
    ranked = users_per_rank * (1 if negatives == "local" else world_size)
    if ranked < 2:
        raise ValueError(
            f"data.users_per_batch={users_per_rank} on {world_size} rank(s) with model.reward.negatives={negatives!r} ranks"
            f" {ranked} user against itself: with no other users there are no negatives, so every reward is 1,"
            " the loss 0 and val/ndcg 1.0; use users_per_batch >= 2"
        )


def same_user_mask(
    first_user: int, num_row_users: int, rows_per_user: int, num_users: int, cols_per_user: int,
    device: torch.device | None = None,
) -> Tensor:
    """Which (row, column) pairs belong to the same user, in the ``u*n + i`` index convention.

    Rows are ``rows_per_user`` entries for each of users ``first_user .. first_user + num_row_users``;
    columns are ``cols_per_user`` entries for each of all ``num_users`` users.

    Returns:
        ``[num_row_users * rows_per_user, num_users * cols_per_user]`` bool relevance mask.
    """
    row_user = torch.arange(first_user, first_user + num_row_users, device=device).repeat_interleave(rows_per_user)
    column_user = torch.arange(num_users, device=device).repeat_interleave(cols_per_user)
    return row_user[:, None] == column_user[None, :]


def scored_user_range(local_users: slice | None, num_users: int, caller: str = "bidirectional_reward") -> tuple[int, int]:
    """``(first, stop)`` of the scored users; the slice must be contiguous and inside ``[0, num_users)``
    (else a one-line error starting with ``caller``)."""
    if local_users is None:
        return 0, num_users
    first, stop, step = local_users.start, local_users.stop, local_users.step
    valid = isinstance(first, int) and isinstance(stop, int) and step in (None, 1)
    if not valid or not 0 <= first < stop <= num_users:
        raise ValueError(f"{caller}: local_users must be a contiguous non-empty slice within "
                         f"[0, {num_users}), got {local_users}")
    return first, stop


def check_score_shapes(profile_to_item: Tensor, item_to_profile: Tensor, num_users: int, group_size: int,
                       heldout_per_user: int, alpha: float, caller: str = "bidirectional_reward") -> None:
    """Refuse, in one line starting with ``caller``, sizes that are not positive ints, ``alpha`` outside
    [0, 1], score matrices not ``[U*G, U*K]`` and ``[U*K, U*G]``, or non-finite scores."""
    for name, value in (("num_users", num_users), ("group_size", group_size), ("heldout_per_user", heldout_per_user)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{caller}: {name} must be a positive int, got {value!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"{caller}: alpha must be in [0, 1], got {alpha}")
    rollouts, items = num_users * group_size, num_users * heldout_per_user
    if tuple(profile_to_item.shape) != (rollouts, items):
        raise ValueError(f"{caller}: profile_to_item scores must be [U*G, U*K] = [{rollouts}, {items}], "
                         f"got {tuple(profile_to_item.shape)}")
    if tuple(item_to_profile.shape) != (items, rollouts):
        raise ValueError(f"{caller}: item_to_profile scores must be [U*K, U*G] = [{items}, {rollouts}], "
                         f"got {tuple(item_to_profile.shape)}")
    check_finite(f"{caller}: profile_to_item", profile_to_item)
    check_finite(f"{caller}: item_to_profile", item_to_profile)


def _item_to_profile_ndcg(rows: Tensor, first_user: int, group_size: int, heldout_per_user: int, k: int | None) -> Tensor:
    """Direction (ii) for a block of users.

    Args:
        rows: ``[u*K, U*G]`` item_to_profile scores of the ``u`` scored users' interactions, all rollouts.
        first_user: global index of the first scored user.

    Returns:
        ``[u*G]`` mean over each user's ``K`` interactions of the rollout's single-relevant NDCG.
    """
    num_items, num_rollouts = rows.shape
    num_local = num_items // heldout_per_user
    item_user = torch.arange(first_user, first_user + num_local, device=rows.device).repeat_interleave(heldout_per_user)
    own_columns = item_user[:, None] * group_size + torch.arange(group_size, device=rows.device)  # [u*K, G]
    own = rows.gather(1, own_columns)  # [u*K, G]
    # Counts over every rollout of the row, then the own user's G rollouts taken back out.
    ordered = rows.sort(dim=1).values.contiguous()
    at_most = torch.searchsorted(ordered, own.contiguous(), right=True)
    below = torch.searchsorted(ordered, own.contiguous(), right=False)
    own_greater = (own[:, None, :] > own[:, :, None]).sum(-1)  # [u*K, G]: own rollouts strictly above g
    own_at_least = (own[:, None, :] >= own[:, :, None]).sum(-1)  # includes g itself
    num_greater = (num_rollouts - at_most) - own_greater
    num_tied = (at_most - below) - (own_at_least - own_greater) + 1  # other users' ties, plus r itself
    per_item = tie_averaged_discount(num_greater, num_tied, num_rollouts, k)  # ideal DCG is d(1) = 1
    return per_item.view(num_local, heldout_per_user, group_size).mean(dim=1).reshape(-1)


def bidirectional_reward(
    profile_to_item: Tensor,
    item_to_profile: Tensor,
    *,
    num_users: int,
    group_size: int,
    heldout_per_user: int,
    alpha: float = 0.5,
    k: int | None = None,
    local_users: slice | None = None,
    hard_negatives: int | None = None,
    sampled_negatives: int = 0,
) -> BidirectionalReward:
    """Score every rollout of ``local_users`` (all users by default) in both directions.

    Args:
        profile_to_item: ``[U*G, U*K]`` profile ``r`` (query) vs interaction ``j`` (candidate).
        item_to_profile: ``[U*K, U*G]`` interaction ``j`` (query) vs profile ``r`` (candidate).
        num_users: ``U``, all users taking part in the ranking (all ranks under DDP).
        group_size: ``G`` rollouts per user.
        heldout_per_user: ``K`` held-out interactions per user.
        alpha: weight of the profile_to_item direction in ``total``.
        k: optional NDCG cut-off for both directions.
        local_users: contiguous slice of users whose rollouts are scored (DDP: this rank's).
        hard_negatives: the scores are hybrid ones, each query's positives and this many hardest
            negatives scored, the rest ranked last (:mod:`bump_pl.core.negatives`); sets the chance
            levels to those of the scored lists. None: every candidate was scored.
        sampled_negatives: ``m``, the hybrid rows' other entries were imputed from ``m`` sampled
            ones per query (:func:`bump_pl.core.negatives.impute_from_sample`); sets the chance
            levels to the estimator's own (:func:`bump_pl.core.negatives.sampled_chance_ndcg`).

    Returns:
        :class:`BidirectionalReward` with ``[u*G]`` rewards (``u`` scored users) in rollout order
        and 0-dim chance levels (dtype of the rewards, on the scores' device).

    Raises:
        ValueError: on shape mismatch, bad sizes or ``alpha``, or non-finite scores.
    """
    check_score_shapes(profile_to_item, item_to_profile, num_users, group_size, heldout_per_user, alpha)
    first, stop = scored_user_range(local_users, num_users)
    relevant = same_user_mask(first, stop - first, group_size, num_users, heldout_per_user, profile_to_item.device)
    p2i = multi_positive_ndcg(profile_to_item[first * group_size : stop * group_size], relevant, k)  # [u*G]
    i2p_rows = item_to_profile[first * heldout_per_user : stop * heldout_per_user]
    i2p = _item_to_profile_ndcg(i2p_rows, first, group_size, heldout_per_user, k).to(p2i.dtype)

    if hard_negatives is not None and (not isinstance(hard_negatives, int) or hard_negatives < 0):
        raise ValueError(f"bidirectional_reward: hard_negatives must be an int >= 0 or None, got {hard_negatives!r}")
    if not isinstance(sampled_negatives, int) or sampled_negatives < 0:
        raise ValueError(f"bidirectional_reward: sampled_negatives must be an int >= 0, got {sampled_negatives!r}")
    others = num_users - 1
    if hard_negatives is None:
        chance_p2i = chance_ndcg(heldout_per_user, num_users * heldout_per_user, k)
        chance_i2p = chance_ndcg(1, 1 + others * group_size, k)
    else:
        chance_p2i = sampled_chance_ndcg(heldout_per_user, others * heldout_per_user, hard_negatives, sampled_negatives, k)
        chance_i2p = sampled_chance_ndcg(1, others * group_size, hard_negatives, sampled_negatives, k)
    return BidirectionalReward(
        total=alpha * p2i + (1.0 - alpha) * i2p,
        profile_to_item=p2i,
        item_to_profile=i2p,
        chance_profile_to_item=p2i.new_tensor(chance_p2i),
        chance_item_to_profile=p2i.new_tensor(chance_i2p),
        chance=p2i.new_tensor(alpha * chance_p2i + (1.0 - alpha) * chance_i2p),
    )
