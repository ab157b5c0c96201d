"""Frozen judges that score profiles against held-out interactions, in both directions.

- :class:`Judge` (``base``): the protocol the training step relies on.
- :class:`EmbeddingJudge` (``embedding``): cosine similarity of pooled embeddings.
- :class:`CrossJudge` (``cross``): a causal LM's yes-minus-no logit, with a shared-prefix fast path.
- :class:`LikelihoodJudge` (``likelihood``): how much a profile makes an item more likely under a causal LM.

Exports load lazily: the protocol alone does not import transformers.
"""

from bump_pl._lazy import lazy_exports

_EXPORTS = {
    "DIRECTIONS": "base",
    "Direction": "base",
    "Judge": "base",
    "CrossJudge": "cross",
    "EmbeddingJudge": "embedding",
    "LikelihoodJudge": "likelihood",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
