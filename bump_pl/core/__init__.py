"""The math of BUMP as pure functions over tensors and strings: no Lightning, no models, no judges.

- :mod:`~bump_pl.core.reward`: the bidirectional in-batch reward (multi-positive NDCG both ways).
- :mod:`~bump_pl.core.grpo`: group-relative advantages, the clipped GRPO loss and its KL term.
- :mod:`~bump_pl.core.copy_rate`: the share of a profile copied verbatim from the history.
- :mod:`~bump_pl.core.baselines`: the user's raw history as a same-budget "profile" for validation.
"""
