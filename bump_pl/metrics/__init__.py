"""Ranking and task metrics.

- :func:`multi_positive_ndcg` / :class:`MultiPositiveNDCG`: per-query NDCG with several
  relevant candidates and tie-averaged ranks (equal to sklearn's and torchmetrics' NDCG).
- :func:`evaluate_lamp`: LaMP's official task metrics (``bump_pl.metrics.lamp``).
"""

from bump_pl.metrics.functional import multi_positive_ndcg
from bump_pl.metrics.lamp import LAMP_LABELS, evaluate_lamp
from bump_pl.metrics.ndcg import MultiPositiveNDCG

__all__ = ["LAMP_LABELS", "MultiPositiveNDCG", "evaluate_lamp", "multi_positive_ndcg"]
