"""In-batch judge scores in both directions, with negatives from every rank under DDP.

The reward ranks each user's profiles against *other users'* held-out interactions and vice
versa, so its signal grows with the number of users that share a ranking. Under data
parallelism every rank holds ``U`` users; with ``global_negatives`` each rank scores its own
queries against the candidates of all ranks and the score rows are gathered, so every rank
ends up with the same global matrices it would have on one process holding all users. The
judge work is split, not repeated: rank ``k`` computes only its own query rows.

No Lightning here; plain ``torch.distributed`` (a no-op when it is not initialised).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

from bump_pl.judges.base import Judge


@dataclass
class InBatchScores:
    """Judge scores for one step, in the global index convention.

    Attributes:
        profile_to_item: ``[W*U*G, W*U*K]`` profile ``r`` as query, held-out item ``j`` as candidate.
        item_to_profile: ``[W*U*K, W*U*G]`` item ``j`` as query, profile ``r`` as candidate.
        num_users: ``W*U``, users over all ``W`` ranks that take part in the ranking.
        first_user: index of this rank's first user in the global order (rank * U).
    """

    profile_to_item: Tensor
    item_to_profile: Tensor
    num_users: int
    first_user: int


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_texts(texts: list[str]) -> list[str]:
    """All ranks' lists concatenated in rank order (the local list when not distributed)."""
    _, world = _world()
    if world == 1:
        return list(texts)
    gathered: list[list[str]] = [[] for _ in range(world)]
    dist.all_gather_object(gathered, list(texts))
    return [text for part in gathered for text in part]


def gather_rows(local: Tensor) -> Tensor:
    """``[R, C]`` rows of every rank stacked in rank order: ``[W*R, C]`` (R equal on all ranks)."""
    _, world = _world()
    if world == 1:
        return local
    parts = [torch.empty_like(local) for _ in range(world)]
    dist.all_gather(parts, local.contiguous())
    return torch.cat(parts, dim=0)


def in_batch_scores(
    judge: Judge, profiles: list[str], items: list[str], *, num_users: int, global_negatives: bool = True
) -> InBatchScores:
    """Score ``U*G`` profiles and ``U*K`` held-out items of this rank in both directions.

    Args:
        profiles: ``U*G`` texts, profile ``r = u*G + g``.
        items: ``U*K`` texts, item ``j = u*K + k``.
        num_users: ``U`` on this rank (equal on every rank).
        global_negatives: rank against every rank's users (True) or only this rank's (False).
    """
    rank, world = _world()
    if not global_negatives or world == 1:
        rank, world = 0, 1
        all_profiles, all_items = profiles, items
    else:
        all_profiles, all_items = gather_texts(profiles), gather_texts(items)
    gather = gather_rows if world > 1 else (lambda rows: rows)
    profile_to_item = gather(judge.score(profiles, all_items, "profile_to_item").float())
    if judge.symmetric:
        item_to_profile = profile_to_item.T
    else:
        item_to_profile = gather(judge.score(items, all_profiles, "item_to_profile").float())
    return InBatchScores(profile_to_item=profile_to_item, item_to_profile=item_to_profile, num_users=num_users * world, first_user=rank * num_users)
