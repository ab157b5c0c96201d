"""Multi-positive NDCG over a batch of queries, vectorised, with tie-averaged ranks.

Definition (per query row): linear gain ``rel``; discount ``1 / log2(rank + 1)`` with ranks
from 1; positions after ``k`` (when given) are discounted to 0; the DCG is divided by the
ideal DCG of the best possible ordering under the same cut-off. A row with no relevant
candidate (ideal DCG 0) scores 0.

Ties follow McSherry & Najork (2008), as ``sklearn.metrics.ndcg_score(ignore_ties=False)``
and ``torchmetrics.functional.retrieval.retrieval_normalized_dcg`` do: candidates with equal
scores share the positions their group occupies, and each receives the *mean* discount of
those positions. Both references also return 0 for rows without a relevant candidate
(sklearn 1.9 and torchmetrics 1.9 set such rows to 0 rather than NaN), so all three agree
row by row. Differences, all deliberate: sklearn refuses a single candidate (``C == 1``) and
torchmetrics scores one query per call; this function scores ``Q`` queries at once and
accepts ``C == 1`` (NDCG 1 if that candidate is relevant, else 0).

Cost: one sort of the scores and one of the gains per row, ``O(Q C log C)``, then linear scans
for the tie groups; no Python loop.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _accumulation_dtype(device: torch.device) -> torch.dtype:
    """float64 for the discount prefix sums (their differences lose digits in float32), except on MPS."""
    return torch.float32 if device.type == "mps" else torch.float64


def discounts(length: int, k: int | None = None, *, device: torch.device | None = None) -> Tensor:
    """``[length]`` discount of positions 1..length: ``1 / log2(position + 1)``, 0 after position ``k``."""
    device = device or torch.device("cpu")
    positions = torch.arange(1, length + 1, device=device, dtype=_accumulation_dtype(device))
    out = 1.0 / torch.log2(positions + 1.0)
    if k is not None:
        out[k:] = 0.0
    return out


def tie_averaged_discount(num_greater: Tensor, num_tied: Tensor, num_candidates: int, k: int | None = None) -> Tensor:
    """Mean discount of the positions a tie group occupies.

    A candidate with ``num_greater`` strictly better candidates and ``num_tied`` candidates of
    equal score (itself included) shares positions ``num_greater + 1 .. num_greater + num_tied``
    with its group; its tie-averaged discount is the mean of those positions' discounts.

    Args:
        num_greater: integer tensor of any shape, ``>= 0``.
        num_tied: integer tensor of the same shape, ``>= 1``.
        num_candidates: length of the ranked lists (``num_greater + num_tied <= num_candidates``).
        k: cut-off; positions after ``k`` have discount 0.

    Returns:
        Float64 (float32 on MPS) tensor of the same shape.
    """
    cumulative = discounts(num_candidates, k, device=num_greater.device).cumsum(0)
    cumulative = torch.cat([cumulative.new_zeros(1), cumulative])  # [C + 1], cumulative[n] = sum of the first n
    return (cumulative[num_greater + num_tied] - cumulative[num_greater]) / num_tied


def tie_groups(descending: Tensor) -> tuple[Tensor, Tensor]:
    """Tie groups of rows already sorted in descending order.

    Args:
        descending: ``[Q, C]`` scores, each row sorted high to low.

    Returns:
        ``(num_greater, num_tied)``, both ``[Q, C]`` int64 in the same sorted order: how many
        entries of the row are strictly greater, and how many equal (the entry included).
    """
    num_queries, num_candidates = descending.shape
    position = torch.arange(num_candidates, device=descending.device).expand(num_queries, num_candidates)
    starts = torch.ones_like(descending, dtype=torch.bool)
    starts[:, 1:] = descending[:, 1:] != descending[:, :-1]
    ends = torch.ones_like(starts)
    ends[:, :-1] = starts[:, 1:]
    first = torch.where(starts, position, 0).cummax(dim=1).values  # group's first position
    stop = torch.where(ends, position + 1, num_candidates).flip(1).cummin(dim=1).values.flip(1)  # one past its last
    return first, stop - first


def check_finite(name: str, values: Tensor) -> None:
    """Raise ``ValueError`` naming ``name`` and the count when ``values`` holds NaN or +-inf."""
    bad = int((~torch.isfinite(values)).sum())
    if bad:
        raise ValueError(f"{name} has {bad} non-finite entries (NaN or inf) out of {values.numel()}")


def multi_positive_ndcg(scores: Tensor, relevant: Tensor, k: int | None = None) -> Tensor:
    """NDCG of every query row, several relevant candidates allowed, ties averaged.

    Args:
        scores: ``[Q, C]`` float, higher ranks first; must be finite.
        relevant: ``[Q, C]`` bool (binary relevance) or non-negative float/int (graded gain).
        k: optional cut-off (positive int): only the first ``k`` positions count.

    Returns:
        ``[Q]`` NDCG in ``[0, 1]`` (float32, float64 if ``scores`` is float64); 0 for rows
        with no relevant candidate.

    Raises:
        ValueError: on shape mismatch, non-2-D input, a bad ``k``, negative relevance or
            non-finite scores.
    """
    if scores.ndim != 2 or relevant.shape != scores.shape:
        raise ValueError(
            f"multi_positive_ndcg: scores and relevant must both be [Q, C]; got {tuple(scores.shape)} "
            f"and {tuple(relevant.shape)}"
        )
    if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
        raise ValueError(f"multi_positive_ndcg: k must be a positive int or None, got {k!r}")
    if not scores.is_floating_point():
        raise ValueError(f"multi_positive_ndcg: scores must be floating point, got {scores.dtype}")
    check_finite("multi_positive_ndcg: scores", scores)
    out_dtype = torch.promote_types(scores.dtype, torch.float32)
    num_queries, num_candidates = scores.shape
    if num_queries == 0 or num_candidates == 0:
        return scores.new_zeros(num_queries, dtype=out_dtype)
    gains = relevant.to(_accumulation_dtype(scores.device))
    if bool((gains < 0).any()):
        raise ValueError("multi_positive_ndcg: relevant must be non-negative (it is a linear gain)")
    descending, order = scores.sort(dim=1, descending=True)
    num_greater, num_tied = tie_groups(descending)
    dcg = (gains.gather(1, order) * tie_averaged_discount(num_greater, num_tied, num_candidates, k)).sum(dim=1)
    best = discounts(num_candidates, k, device=scores.device)
    if relevant.dtype == torch.bool:  # binary: the ideal DCG is the sum of the first (number relevant) discounts
        ideal = torch.cat([best.new_zeros(1), best.cumsum(0)])[relevant.sum(dim=1)]
    else:
        ideal = (gains.sort(dim=1, descending=True).values * best).sum(dim=1)
    ndcg = torch.where(ideal > 0, dcg / ideal.clamp_min(torch.finfo(ideal.dtype).tiny), torch.zeros_like(dcg))
    return ndcg.to(out_dtype)
