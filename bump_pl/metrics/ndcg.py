"""``MultiPositiveNDCG``: the mean per-query NDCG as a torchmetrics ``Metric``.

Accumulates a sum of per-query NDCG and a query count, both reduced with ``sum`` across
processes, so the distributed mean weights every query equally however the queries were
split over ranks or updates. The per-query value is :func:`multi_positive_ndcg`.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

from bump_pl.metrics.functional import multi_positive_ndcg


class MultiPositiveNDCG(Metric):
    """Mean multi-positive NDCG over every query seen since the last reset.

    Args:
        k: optional cut-off passed to :func:`multi_positive_ndcg`.

    ``compute()`` returns NaN before any query has been seen (no data is not a score of 0).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    ndcg_sum: Tensor
    num_queries: Tensor

    def __init__(self, k: int | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
            raise ValueError(f"MultiPositiveNDCG: k must be a positive int or None, got {k!r}")
        self.k = k
        self.add_state("ndcg_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("num_queries", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, scores: Tensor, relevant: Tensor) -> None:
        """Add the NDCG of ``Q`` queries: ``scores`` ``[Q, C]`` float, ``relevant`` ``[Q, C]`` bool or graded."""
        per_query = multi_positive_ndcg(scores, relevant, self.k)
        self.ndcg_sum += per_query.to(self.ndcg_sum.dtype).sum()
        self.num_queries += per_query.numel()

    def compute(self) -> Tensor:
        """0-dim mean NDCG over all queries (all processes when distributed); NaN if none."""
        if int(self.num_queries) == 0:
            return torch.tensor(float("nan"), dtype=torch.float64, device=self.ndcg_sum.device)
        return self.ndcg_sum / self.num_queries
