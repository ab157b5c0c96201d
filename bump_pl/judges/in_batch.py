"""In-batch judge scores in both directions, with negatives from every rank under DDP.

The reward ranks each user's profiles against *other users'* held-out interactions and vice
versa, so its signal grows with the number of users that share a ranking. Under data
parallelism every rank holds ``U`` users; with ``global_negatives`` each rank scores its own
queries against the candidates of all ranks and the score rows are gathered, so every rank
ends up with the same global matrices it would have on one process holding all users. The
judge work is split, not repeated: rank ``k`` computes only its own query rows.

Hybrid negatives (``hybrid``, :mod:`bump_pl.core.negatives`): a retriever (an embedding judge)
encodes this rank's texts; the vectors are gathered, every query of this rank is ranked against
every candidate of every rank, and the judge scores only the query's positives and its ``k``
hardest negatives. Only the vectors and the texts of candidates some rank chose cross ranks (plus
the score rows, gathered as in ``global``). Queries that chose the same candidates share one
``judge.score`` call; with ``k`` at or above the number of negatives that is the single call of
``global``, so the scores are those of ``global``. With ``m`` sampled negatives the judge also
scores ``m`` of each query's other negatives, drawn with keys seeded by the query's text (so a
query draws the same candidates on one process or many), and they stand in for the rest.

Negative users (``negative_users = m``, :mod:`bump_pl.core.negative_users`): every user is scored
against ``m`` other users only, drawn with a seed from every rank's held-out texts (the same draw
on one process or many); one pair mask serves both directions, so a symmetric judge scores each
drawn pair once. The unscored entries are 0 and :attr:`InBatchScores.scored` says which were scored.

No Lightning here; plain ``torch.distributed`` (a no-op when it is not initialised).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

from bump_pl.core.negative_users import negative_pair_mask
from bump_pl.core.negatives import impute_from_sample, rank_unscored_last, sampled_negatives, scored_candidates
from bump_pl.core.reward import RewardSettings, check_ranking_size, same_user_mask
from bump_pl.judges.base import Direction, Judge, Retriever


@dataclass
class InBatchScores:
    """Judge scores for one step, in the global index convention.

    Attributes:
        profile_to_item: ``[W*U*G, W*U*K]`` profile ``r`` as query, held-out item ``j`` as candidate.
        item_to_profile: ``[W*U*K, W*U*G]`` item ``j`` as query, profile ``r`` as candidate.
        num_users: ``W*U``, users over all ``W`` ranks that take part in the ranking.
        first_user: index of this rank's first user in the global order (rank * U).
        hard_negatives: ``k`` of hybrid scores (pass it to ``bidirectional_reward``), None when
            every pair was scored.
        sampled_negatives: ``m`` of hybrid scores whose unscored entries were imputed from ``m``
            sampled ones per query (pass it to ``bidirectional_reward``: it sets the chance levels).
        scored: ``[W*U*G, W*U*K]`` bool, the (profile, item) pairs scored with negative users (its
            transpose for ``item_to_profile``; 0 elsewhere), None when every pair was scored.
    """

    profile_to_item: Tensor
    item_to_profile: Tensor
    num_users: int
    first_user: int
    hard_negatives: int | None = None
    sampled_negatives: int = 0
    scored: Tensor | None = None


@dataclass(frozen=True)
class HybridNegatives:
    """``reward.negatives: hybrid``: ``retriever`` ranks every candidate, the judge scores each
    query's positives, its ``hard_negatives`` hardest negatives and ``sampled_negatives`` drawn
    from the others (which then stand in for the rest)."""

    retriever: Retriever
    hard_negatives: int
    sampled_negatives: int = 0


@functools.lru_cache(maxsize=2)
def _load_retriever(name: str) -> Retriever:
    """An ``EmbeddingJudge`` (mean pooling) on ``name``, loaded once per process."""
    from bump_pl.judges.embedding import EmbeddingJudge

    return EmbeddingJudge(name, pooling="mean")


def hybrid_negatives(settings: RewardSettings) -> HybridNegatives | None:
    """What :func:`in_batch_scores` needs for ``settings.negatives == "hybrid"`` (None otherwise)."""
    if settings.negatives != "hybrid":
        return None
    return HybridNegatives(_load_retriever(settings.retriever), settings.hard_negatives, settings.sampled_negatives)


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


def gather_chosen_texts(texts: list[str], chosen: Tensor) -> list[str | None]:
    """Every rank's texts in rank order, as :func:`gather_texts`, but only where some rank's ``chosen``
    is True (None elsewhere): only chosen texts cross ranks.

    Args:
        texts: this rank's ``n`` texts (``n`` equal on all ranks).
        chosen: ``[W*n]`` bool, the global candidates this rank needs.
    """
    rank, world = _world()
    if world == 1:
        return list(texts)
    needed = chosen.to(torch.int32)
    dist.all_reduce(needed, op=dist.ReduceOp.MAX)
    first = rank * len(texts)
    mine = {first + i: text for i, text in enumerate(texts) if needed[first + i]}
    parts: list[dict[int, str]] = [{} for _ in range(world)]
    dist.all_gather_object(parts, mine)
    found = {index: text for part in parts for index, text in part.items()}
    return [found.get(index) for index in range(world * len(texts))]


def score_chosen(judge: Judge, queries: list[str], candidates: list[str | None], scored: Tensor,
                 direction: Direction) -> Tensor:
    """``[Q, C]`` judge scores where ``scored`` (``[Q, C]`` bool) is True, 0 elsewhere.

    Every row the same (e.g. all candidates scored): the one ``judge.score`` call of ``global``.
    Otherwise the judge's ``score_sets`` when it has one (``CrossJudge``: each query packs its own
    candidates, queries batched), else one ``judge.score`` call per distinct set of columns.
    """
    out = torch.zeros(scored.shape, dtype=torch.float32, device=judge.device)
    patterns, group = torch.unique(scored.cpu(), dim=0, return_inverse=True)
    score_sets = getattr(judge, "score_sets", None)
    if len(patterns) > 1 and callable(score_sets):
        return score_sets(queries, candidates, scored, direction).float()
    for index, pattern in enumerate(patterns):
        rows = (group == index).nonzero().flatten()
        columns = pattern.nonzero().flatten()
        scores = judge.score([queries[r] for r in rows.tolist()], [candidates[c] for c in columns.tolist()], direction)
        out[rows.to(out.device)[:, None], columns.to(out.device)[None, :]] = scores.float()
    return out


def text_seed(text: str) -> int:
    """A 63-bit seed from ``text`` (BLAKE2b): equal on every process and rank that holds the same text."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


def text_keys(queries: list[str], num_candidates: int) -> Tensor:
    """``[Q, C]`` uniform random keys, each row from a generator seeded by its query's text (:func:`text_seed`),
    so the draw depends on the query and the candidate's global index, not on process or rank."""
    rows = [torch.rand(num_candidates, generator=torch.Generator().manual_seed(text_seed(query))) for query in queries]
    return torch.stack(rows) if rows else torch.zeros(0, num_candidates)


def hybrid_rows(judge: Judge, hybrid: HybridNegatives, queries: list[str], query_vectors: Tensor,
                candidate_vectors: Tensor, positive: Tensor, candidate_texts: Callable[[Tensor], list[str | None]],
                direction: Direction) -> Tensor:
    """``[Q, C]`` hybrid scores of ``Q`` queries against ``C`` candidates (every rank's).

    Args:
        query_vectors: ``[Q, H]`` retriever vectors of the queries.
        candidate_vectors: ``[C, H]`` retriever vectors of the candidates.
        positive: ``[Q, C]`` bool, each query's own user's candidates.
        candidate_texts: ``[C]`` bool mask of the candidates some query chose -> ``C`` texts (None
            where not chosen); under DDP :func:`gather_chosen_texts`.

    The retriever ranks every candidate; the judge scores each query's positives and ``k`` hardest
    negatives; the rest rank last (:func:`bump_pl.core.negatives.rank_unscored_last`), or, with
    ``m`` sampled negatives, the judge also scores ``m`` of the rest and they stand in for the others
    (:func:`bump_pl.core.negatives.impute_from_sample`, keys from :func:`text_keys`).
    """
    scored = scored_candidates(query_vectors @ candidate_vectors.T, positive, hybrid.hard_negatives)
    if not hybrid.sampled_negatives:
        scores = score_chosen(judge, queries, candidate_texts(scored.any(dim=0)), scored, direction)
        return rank_unscored_last(scores, scored.to(scores.device))
    keys = text_keys(queries, scored.shape[1]).to(scored.device)
    sampled = sampled_negatives(scored, keys, hybrid.sampled_negatives)
    judged = scored | sampled
    scores = score_chosen(judge, queries, candidate_texts(judged.any(dim=0)), judged, direction)
    device = scores.device
    return impute_from_sample(scores, scored.to(device), sampled.to(device), keys.to(device))


def _hybrid_direction(judge: Judge, hybrid: HybridNegatives, queries: list[str], candidates: list[str],
                      direction: Direction, first_user: int, num_users: int, world: int) -> Tensor:
    """``[U*q, W*U*c]``: this rank's queries (``q`` per user) against every rank's candidates (``c`` per user)."""
    retriever = hybrid.retriever.to(judge.device)
    query_vectors = retriever.encode(queries, direction, "query")
    candidate_vectors = retriever.encode(candidates, direction, "candidate")
    if world > 1:
        candidate_vectors = gather_rows(candidate_vectors.contiguous())
    positive = same_user_mask(first_user, num_users, len(queries) // num_users, num_users * world,
                              len(candidates) // num_users, query_vectors.device)
    texts = functools.partial(gather_chosen_texts, candidates) if world > 1 else lambda chosen: candidates
    return hybrid_rows(judge, hybrid, queries, query_vectors, candidate_vectors, positive, texts, direction)


def in_batch_scores(
    judge: Judge,
    profiles: list[str],
    items: list[str],
    *,
    num_users: int,
    global_negatives: bool = True,
    hybrid: HybridNegatives | None = None,
    negative_users: int = 0,
) -> InBatchScores:
    """Score ``U*G`` profiles and ``U*K`` held-out items of this rank in both directions.

    Args:
        profiles: ``U*G`` texts, profile ``r = u*G + g``.
        items: ``U*K`` texts, item ``j = u*K + k``.
        num_users: ``U`` on this rank (equal on every rank).
        global_negatives: rank against every rank's users (True) or only this rank's (False).
        hybrid: score only positives and hard negatives (:func:`hybrid_negatives`); None: every pair.
        negative_users: score each user against this many other users of the ranking, drawn
            uniformly (:mod:`bump_pl.core.negative_users`); 0: every user. Not with ``hybrid``.

    Raises:
        ValueError: when the ranking holds fewer than 2 users (no negatives, see
            :func:`bump_pl.core.reward.check_ranking_size`).
    """
    if hybrid is not None and negative_users:
        raise ValueError("in_batch_scores: hybrid and negative_users both choose the negatives; use one")
    rank, world = _world()
    negatives = "local" if not global_negatives else "hybrid" if hybrid is not None else "global"
    check_ranking_size(num_users, world, negatives)
    if not global_negatives:
        rank, world = 0, 1
    gather = gather_rows if world > 1 else (lambda rows: rows)
    if hybrid is not None:
        first = rank * num_users
        profile_to_item = gather(_hybrid_direction(judge, hybrid, profiles, items, "profile_to_item", first, num_users, world))
        item_to_profile = gather(_hybrid_direction(judge, hybrid, items, profiles, "item_to_profile", first, num_users, world))
        return InBatchScores(profile_to_item, item_to_profile, num_users * world, first, hybrid.hard_negatives,
                             hybrid.sampled_negatives)
    all_profiles, all_items = (gather_texts(profiles), gather_texts(items)) if world > 1 else (profiles, items)
    scored = None
    if negative_users:  # one draw on every rank: seeded by every rank's held-out texts
        scored = negative_pair_mask(num_users * world, negative_users, len(profiles) // num_users,
                                    len(items) // num_users, text_seed("\x1f".join(all_items)))
    profile_to_item = gather(_score_rows(judge, profiles, all_items, scored, rank, "profile_to_item"))
    if judge.symmetric:
        item_to_profile = profile_to_item.T
    else:
        item_to_profile = gather(_score_rows(judge, items, all_profiles, None if scored is None else scored.T, rank,
                                             "item_to_profile"))
    return InBatchScores(profile_to_item=profile_to_item, item_to_profile=item_to_profile, num_users=num_users * world,
                         first_user=rank * num_users, scored=None if scored is None else scored.to(profile_to_item.device))


def _score_rows(judge: Judge, queries: list[str], candidates: list[str], scored: Tensor | None, rank: int,
                direction: Direction) -> Tensor:
    """``[Q, C]`` this rank's ``Q`` queries against every rank's candidates: every pair (``scored`` None,
    one ``judge.score`` call) or this rank's rows of the global ``scored`` mask (:func:`score_chosen`, 0
    elsewhere)."""
    if scored is None:
        return judge.score(queries, candidates, direction).float()
    return score_chosen(judge, queries, candidates, scored[rank * len(queries) : (rank + 1) * len(queries)], direction)
