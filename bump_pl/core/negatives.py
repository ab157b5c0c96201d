"""Hybrid negatives: a cheap ranking picks, per query, the few negatives an expensive judge scores.

With ``reward.negatives: hybrid`` an embedding judge ranks every candidate for every query (one
matrix product), and the cross judge scores only each query's positives plus its ``k`` hardest
negatives (highest retrieval score among the non-positives). The reward's NDCG is then the NDCG
over that scored set.

Dense form: the cross scores stay in the ``[Q, C]`` matrices of the full ranking, and every
unscored entry is given a value below every scored entry of its row (:func:`rank_unscored_last`).
Positives are always scored, so the unscored entries rank after every positive and change
neither a positive's position nor the ideal DCG (which depends only on the number of positives):
NDCG over the dense row equals NDCG over the scored set, and
:func:`bump_pl.core.reward.bidirectional_reward` runs unchanged. With ``k`` at or above the
number of negatives nothing is unscored and the matrices are those of the full ranking.

Pure tensor functions: no judge, no Lightning, no ``torch.distributed``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bump_pl.metrics.functional import check_finite


def scored_candidates(retrieval: Tensor, positive: Tensor, k: int) -> Tensor:
    """Which candidates the expensive judge scores: each row's positives and its ``k`` hardest negatives.

    Args:
        retrieval: ``[Q, C]`` cheap scores (e.g. cosine of embeddings), higher = more alike.
        positive: ``[Q, C]`` bool, the query's relevant candidates (always scored).
        k: hard negatives per query (``>= 0``); all of a row's negatives when it has ``<= k``.

    Returns:
        ``[Q, C]`` bool. Among negatives of equal retrieval score the lower column is taken
        first, so the choice is deterministic.
    """
    if retrieval.ndim != 2 or positive.shape != retrieval.shape:
        raise ValueError(f"scored_candidates: retrieval and positive must both be [Q, C], got "
                         f"{tuple(retrieval.shape)} and {tuple(positive.shape)}")
    if not isinstance(k, int) or k < 0:
        raise ValueError(f"scored_candidates: k must be an int >= 0, got {k!r}")
    check_finite("scored_candidates: retrieval", retrieval)
    # Positives sort after every (finite) negative, so a row's first k places are its hardest negatives.
    order = retrieval.float().masked_fill(positive, float("-inf")).argsort(dim=1, descending=True, stable=True)
    chosen = torch.zeros_like(positive).scatter_(1, order[:, :k], True)
    return positive | chosen


def rank_unscored_last(scores: Tensor, scored: Tensor) -> Tensor:
    """``[Q, C]`` scores with every unscored entry set below all scored entries of its row.

    Args:
        scores: ``[Q, C]``; only entries where ``scored`` is True are read.
        scored: ``[Q, C]`` bool, at least one True per row.

    Returns:
        ``[Q, C]`` finite where the scored entries are finite: scored entries unchanged, the
        others ``m - max(|m|, 1)`` for the row's lowest scored value ``m`` (strictly below ``m``
        in floating point too).
    """
    if scores.shape != scored.shape or scores.ndim != 2:
        raise ValueError(f"rank_unscored_last: scores and scored must both be [Q, C], got "
                         f"{tuple(scores.shape)} and {tuple(scored.shape)}")
    if not bool(scored.any(dim=1).all()):
        raise ValueError("rank_unscored_last: every row needs at least one scored entry (its positives)")
    lowest = scores.masked_fill(~scored, float("inf")).amin(dim=1, keepdim=True)  # [Q, 1]
    return torch.where(scored, scores, lowest - lowest.abs().clamp_min(1.0))


def scored_size(num_positives: int, num_negatives: int, k: int | None) -> int:
    """Candidates in one query's scored list: its positives plus ``k`` of its negatives (all when ``k`` is None)."""
    return num_positives + (num_negatives if k is None else min(k, num_negatives))
