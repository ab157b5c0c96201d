"""Models: offline-friendly loading, the LoRA policy, shared-prompt rollouts and log-probs."""

from bump_pl.models.loading import (
    ALIASES,
    ModelNotFoundError,
    cache_dir,
    load_causal_lm,
    load_encoder,
    load_tokenizer,
)

__all__ = ["ALIASES", "ModelNotFoundError", "cache_dir", "load_causal_lm", "load_encoder", "load_tokenizer"]
