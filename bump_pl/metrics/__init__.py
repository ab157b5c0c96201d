"""Ranking and task metrics (exports load lazily: the NDCG pieces never import the LaMP metrics' nltk).

- :func:`multi_positive_ndcg` / :class:`MultiPositiveNDCG`: per-query NDCG with several
  relevant candidates and tie-averaged ranks (equal to sklearn's and torchmetrics' NDCG).
- :func:`evaluate_lamp`: LaMP's official task metrics (``bump_pl.metrics.lamp``).
"""

from bump_pl._lazy import lazy_exports

_EXPORTS = {
    "multi_positive_ndcg": "functional",
    "LAMP_LABELS": "lamp",
    "evaluate_lamp": "lamp",
    "MultiPositiveNDCG": "ndcg",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
