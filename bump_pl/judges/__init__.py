"""Frozen judges that score profiles against held-out interactions, in both directions.

- :class:`Judge` (``base``): the protocol the training step relies on.
- :class:`EmbeddingJudge` (``embedding``): cosine similarity of pooled embeddings.
- :class:`CrossJudge` (``cross``): a causal LM's yes-minus-no logit, with a shared-prefix fast path.
"""

from bump_pl.judges.base import DIRECTIONS, Direction, Judge
from bump_pl.judges.cross import CrossJudge
from bump_pl.judges.embedding import EmbeddingJudge

__all__ = ["DIRECTIONS", "CrossJudge", "Direction", "EmbeddingJudge", "Judge"]
