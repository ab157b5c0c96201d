"""Ranking and task metrics.

- :func:`multi_positive_ndcg` / :class:`MultiPositiveNDCG`: per-query NDCG with several
  relevant candidates and tie-averaged ranks (equal to sklearn's and torchmetrics' NDCG).
- LaMP's official task metrics: ``evaluate_lamp`` (to be added in ``bump_pl.metrics.lamp``).
"""

from bump_pl.metrics.functional import multi_positive_ndcg
from bump_pl.metrics.ndcg import MultiPositiveNDCG

# LaMP task metrics: add `from bump_pl.metrics.lamp import evaluate_lamp` here and to __all__.

__all__ = ["MultiPositiveNDCG", "multi_positive_ndcg"]
