"""bump-pl: BUMP (Bidirectional User Modeling via Profiles) in PyTorch Lightning.

Layout (lowest layer first; a module imports only from its own layer or lower ones, see
docs/architecture.md, which a test keeps true):

- helpers                 ``atomic_files``, ``cache_dir``, ``did_you_mean``, ``markdown_table``, ``token_padding``
- ``bump_pl.data``        LaMP reader, task registry, download, synthetic users, ``BumpDataModule``
- ``bump_pl.metrics``     multi-positive NDCG (functional + torchmetrics), LaMP's official metrics
- ``bump_pl.core``        the math (pure tensors): bidirectional reward, GRPO, negatives, copy rate, baselines
- ``bump_pl.models``      model loading (Hub id, folder, GGUF, offline aliases), LoRA policy, rollouts
- ``bump_pl.judges``      the ``Judge`` protocol, ``EmbeddingJudge``, ``CrossJudge``, in-batch scores
- ``bump_pl.rl``          the RL step on the model: log-probs, the KL reference, the policy update
- ``bump_pl.verdict``     judge scores -> the training reward and validation NDCG (``bump_pl.validation``)
- ``bump_pl.runs``        run folders, checkpoints, the profile cache on disk
- ``bump_pl.downstream``  downstream evaluation of profiles on LaMP questions
- ``bump_pl.module``      ``BumpModule``: orchestrates one GRPO training step (with ``strategies``, ``text_logging``)
- ``bump_pl.callbacks``   thin Lightning callbacks (the repository's top-level ``callbacks/``)
- ``bump_pl.integrations`` BUMP's reward in TRL
- ``bump_pl.cli``         the four commands (wiring only)
"""

__version__ = "0.1.0"
