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

Sampled tail (``reward.sampled_negatives: m``): the judge also scores ``m`` of each query's other
negatives, drawn uniformly (:func:`sampled_negatives`), and every still-unscored entry copies one
of their scores (:func:`impute_from_sample`). The dense row is then an estimate of the full row, not
a shorter list: a positive's expected count of candidates above it is the true count, so the reward
estimates ``global``'s NDCG over every candidate even when the retriever and the judge disagree on
which negatives are hard (where scoring the ``k`` hardest alone ignores every negative the judge
ranks high and the retriever low).

The count is unbiased, the NDCG is not: the discount is convex in the rank, so the plug-in NDCG
is too high (measured on random ``[64, 128]`` score matrices, ``k = 0``, ``m = 8``: +0.10 with a
judge at chance level, +0.11 with an informative one; ``k = m = 8``: +0.03). No statistic of a
sample of fixed size ``m < n`` is unbiased for every score matrix: its expectation is a polynomial
of degree ``<= m`` in the ``n`` indicators "this unscored negative is above the positive", and the
discount of their sum has degree ``n``. Posterior-mean discounts trade the bias for one that
depends on the judge (a uniform prior: about -0.004 at chance, -0.20 informative). So the
estimate stays the plug-in one, and its chance level is its own
(:func:`sampled_chance_ndcg`, exact): the reward a judge that ranks at random gets from this
estimator, which is what ``train/reward_chance`` must be compared with, not ``global``'s.

Pure tensor functions: no judge, no Lightning, no ``torch.distributed``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from bump_pl.metrics.functional import check_finite, discounts


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


def sampled_chance_ndcg(num_relevant: int, num_negatives: int, hard: int | None, sampled: int, k: int | None = None) -> float:
    """Exact expected NDCG of one query's hybrid estimate when the judge ranks at random.

    The judge scores the query's ``P = num_relevant`` positives, ``h = min(hard, N)`` of its
    ``N = num_negatives`` negatives (all when ``hard`` is None) and ``s = min(sampled, n)`` of the
    other ``n = N - h``; the unscored rest copy the sampled scores (:func:`impute_from_sample`: ``r =
    (n - s) mod s`` sampled entries stand for ``q + 1`` others, the rest for ``q = (n - s) // s``),
    or rank last when ``s = 0``. At random all orders of the ``T = P + h + s`` scored entries are
    equally likely, independent of which sampled entry stands for how many. A positive with ``j``
    of the other ``T - 1`` above it has ``a ~ Hypergeometric(T - 1, s, j)`` sampled ones among them,
    ``c ~ Hypergeometric(s, r, a)`` of those stand for ``q + 1`` others, and its position is
    ``1 + j + a*q + c``; every positive alike, so ``E[NDCG] = P * E[d(position)] / IDCG``.

    Equals :func:`bump_pl.core.reward.chance_ndcg` of the full list when ``s = n`` and of the scored
    list when ``s = 0``; above the full list's chance otherwise (the plug-in NDCG's upward bias).
    """
    if not 1 <= num_relevant or num_negatives < 0 or (hard is not None and hard < 0) or sampled < 0:
        raise ValueError(f"sampled_chance_ndcg: need num_relevant >= 1 and counts >= 0, got "
                         f"{num_relevant}, {num_negatives}, {hard}, {sampled}")
    h = num_negatives if hard is None else min(hard, num_negatives)
    n = num_negatives - h
    s = min(sampled, n)
    total = num_relevant + h + s
    d = discounts(num_relevant + num_negatives, k).tolist()
    ideal = sum(d[:num_relevant])
    q, r = ((n - s) // s, (n - s) % s) if s else (0, 0)
    expected = 0.0
    for j in range(total):  # the positive's 0-based place among the T scored entries: uniform
        for a in range(max(0, j - (total - 1 - s)), min(j, s) + 1):
            p_a = math.comb(s, a) * math.comb(total - 1 - s, j - a) / math.comb(total - 1, j)
            for c in range(max(0, a - (s - r)), min(a, r) + 1):
                p_c = math.comb(r, c) * math.comb(s - r, a - c) / math.comb(s, a)
                expected += p_a * p_c * d[j + a * q + c]
    return num_relevant * expected / total / ideal


def sampled_negatives(scored: Tensor, keys: Tensor, m: int) -> Tensor:
    """``m`` of each row's unscored candidates, drawn uniformly: those with the lowest ``keys``.

    Args:
        scored: ``[Q, C]`` bool, what the judge scores anyway (positives and hard negatives).
        keys: ``[Q, C]`` i.i.d. uniform random keys (e.g. ``torch.rand``); the ``m`` lowest of a
            row's unscored entries are a uniform sample without replacement.
        m: sample size per row (``>= 0``); every unscored entry when a row has ``<= m``.

    Returns:
        ``[Q, C]`` bool, disjoint from ``scored``.
    """
    _check_keys("sampled_negatives", scored, keys)
    if not isinstance(m, int) or m < 0:
        raise ValueError(f"sampled_negatives: m must be an int >= 0, got {m!r}")
    return (_tail_position(_tail_order(scored, keys), scored) < m) & ~scored


def impute_from_sample(scores: Tensor, scored: Tensor, sampled: Tensor, keys: Tensor) -> Tensor:
    """``[Q, C]`` scores where every entry neither scored nor sampled takes a sampled entry's score.

    With ``n`` unscored candidates in a row of which ``m`` were sampled (:func:`sampled_negatives`,
    same ``keys``), the ``n - m`` others take the sampled scores in turns (the unsampled entry of
    tail position ``t`` copies the sampled one of position ``(t - m) mod m``), so each sampled score
    stands for ``n / m`` candidates on average. A positive's count of unscored candidates above it
    is then ``n/m`` times its sampled count, an unbiased estimate of the count among all ``n``: the
    keys' order is uniformly random, so every candidate is equally likely to hold any position.
    NDCG over the imputed row estimates NDCG over the full ranking (a plug-in estimate; NDCG is
    not linear in the rank). Every unscored entry sampled: the full scores, exactly.

    Args:
        scores: ``[Q, C]``; entries where ``scored | sampled`` are read.
        scored: ``[Q, C]`` bool, the positives and hard negatives.
        sampled: ``[Q, C]`` bool, :func:`sampled_negatives` of ``scored`` and ``keys``.
        keys: ``[Q, C]`` the keys that drew ``sampled``.

    Raises:
        ValueError: when a row has unscored candidates but no sampled one to stand for them.
    """
    _check_keys("impute_from_sample", scored, keys)
    if scores.shape != scored.shape or sampled.shape != scored.shape:
        raise ValueError(f"impute_from_sample: scores, scored and sampled must all be [Q, C], got "
                         f"{tuple(scores.shape)}, {tuple(scored.shape)} and {tuple(sampled.shape)}")
    missing = ~(scored | sampled)
    if not bool(missing.any()):
        return scores
    per_row = sampled.sum(dim=1, keepdim=True)  # [Q, 1]
    if bool((missing.any(dim=1, keepdim=True) & (per_row == 0)).any()):
        raise ValueError("impute_from_sample: a row has unscored candidates but no sampled one (m must be >= 1)")
    order = _tail_order(scored, keys)  # [Q, C]: the column at each tail position
    position = _tail_position(order, scored)
    source = torch.where(missing, (position - per_row) % per_row.clamp_min(1), 0)  # the donor's tail position
    donor = order.gather(1, source)
    return torch.where(missing, scores.gather(1, donor.to(scores.device)), scores)


def _tail_order(scored: Tensor, keys: Tensor) -> Tensor:
    """``[Q, C]`` int64: each row's columns, unscored ones first in ascending key order (ties: lower
    column first), scored ones after."""
    return keys.float().masked_fill(scored, float("inf")).argsort(dim=1, stable=True)


def _tail_position(order: Tensor, scored: Tensor) -> Tensor:
    """``[Q, C]`` int64: each unscored entry's 0-based position in ``order`` (:func:`_tail_order`);
    ``C`` for scored entries."""
    position = torch.empty_like(order).scatter_(1, order, torch.arange(scored.shape[1], device=order.device).expand_as(order))
    return position.masked_fill(scored, scored.shape[1])


def _check_keys(name: str, scored: Tensor, keys: Tensor) -> None:
    if scored.ndim != 2 or keys.shape != scored.shape:
        raise ValueError(f"{name}: scored and keys must both be [Q, C], got {tuple(scored.shape)} and {tuple(keys.shape)}")
    check_finite(f"{name}: keys", keys)
