"""bump-pl: BUMP (Bidirectional User Modeling via Profiles) in PyTorch Lightning.

Layout (imports flow downward only):

- ``bump_pl.data``     LaMP reader, task registry, download, synthetic users, ``BumpDataModule``
- ``bump_pl.metrics``  multi-positive NDCG (functional + torchmetrics), LaMP's official metrics
- ``bump_pl.reward``   the bidirectional in-batch reward (pure tensors)
- ``bump_pl.grpo``     group advantages and the clipped GRPO loss (pure tensors)
- ``bump_pl.models``   model loading (Hub id, folder, GGUF, offline aliases), LoRA policy, rollouts
- ``bump_pl.judges``   the ``Judge`` protocol, ``EmbeddingJudge``, ``CrossJudge``
- ``bump_pl.module``   ``BumpModule``: orchestrates one GRPO training step
- ``bump_pl.callbacks`` profile cache and downstream evaluation
- ``bump_pl.cli``      the ``bump`` LightningCLI
"""

__version__ = "0.1.0"
