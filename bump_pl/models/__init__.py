"""Models: offline-friendly loading, the LoRA policy, shared-prompt rollouts (the RL step on them: ``bump_pl.rl``).

Exports are lazy (:mod:`bump_pl._lazy`): ``bump_pl.models.lora`` (settings only) loads no torch.
"""

from __future__ import annotations

from bump_pl._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {name: "loading" for name in ("ALIASES", "ModelNotFoundError", "cache_dir", "load_causal_lm", "load_encoder", "load_tokenizer")},
)
