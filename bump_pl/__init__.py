"""bump-pl: BUMP (Bidirectional User Modeling via Profiles) in PyTorch Lightning.

Layout (imports flow downward only):

- ``bump_pl.data``        LaMP reader, task registry, download, synthetic users, ``BumpDataModule``
- ``bump_pl.metrics``     multi-positive NDCG (functional + torchmetrics), LaMP's official metrics
- ``bump_pl.core``        the math (pure tensors): bidirectional reward, GRPO, copy rate, baselines
- ``bump_pl.models``      model loading (Hub id, folder, GGUF, offline aliases), LoRA policy, rollouts
- ``bump_pl.judges``      the ``Judge`` protocol, ``EmbeddingJudge``, ``CrossJudge``, in-batch scores
- ``bump_pl.downstream``  downstream evaluation of profiles on LaMP questions
- ``bump_pl.runs``        run folders, checkpoints, the profile cache on disk
- ``bump_pl.strategies``  what DDP/FSDP/DeepSpeed need beyond Lightning
- ``bump_pl.module``      ``BumpModule``: orchestrates one GRPO training step
- ``bump_pl.callbacks``   profile cache and downstream evaluation (thin Lightning callbacks)
- ``bump_pl.cli``         the four commands (wiring only)
"""

__version__ = "0.1.0"
