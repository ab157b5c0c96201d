"""Shared-prefix forward passes: run a prefix once, continue it many times from its KV cache.

BUMP repeats long prefixes: G rollouts share one user-history prompt, and the cross judge
scores one query against many candidates. Encoding each prefix once and expanding its key/value
cache to every continuation is where bump-pl saves most of its compute. The same two functions
serve rollouts, training log-probs and the cross judge.

Padding convention: prefixes are left-padded; continuations may be left- or right-padded.
Position ids are always derived from the attention masks, so a continuation token sits at the
same position as in one unpadded ``prefix + continuation`` sequence; the naive full-sequence
forward in :func:`forward_full` uses the same convention, which is what makes the two equal.
Works for decoder-only models with full attention (Llama, Qwen2, SmolLM, Mistral without
sliding window).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from transformers import DynamicCache, PreTrainedModel


@dataclass
class Prefix:
    """The encoded prefixes of a batch.

    Attributes:
        cache: the KV cache of the B prefixes (per layer ``[B, heads, P, head_dim]``).
        attention_mask: ``[B, P]`` long, 1 on real tokens (left-padded).
        last_logits: ``[B, V]`` logits at each prefix's last position, i.e. the distribution of
            the first continuation token.
    """

    cache: DynamicCache
    attention_mask: Tensor
    last_logits: Tensor

    @property
    def lengths(self) -> Tensor:
        """``[B]`` number of real (non-pad) tokens in each prefix."""
        return self.attention_mask.sum(-1)


def position_ids_from_mask(attention_mask: Tensor, offset: Tensor | None = None) -> Tensor:
    """Positions of real tokens counted from 0 (or from ``offset`` ``[B]``); pads get a dummy.

    Args:
        attention_mask: ``[B, T]`` 0/1.
        offset: ``[B]`` number of real tokens before this segment, or None.

    Returns:
        ``[B, T]`` long position ids.
    """
    positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    if offset is not None:
        positions = positions + offset.unsqueeze(-1)
    return positions


def additive_mask(allowed: Tensor, dtype: torch.dtype) -> Tensor:
    """Bool ``allowed`` (any shape) -> additive attention mask: 0 where True, ``dtype``'s minimum where False.

    For hand-built 4D masks ``[B, 1, q, k]``, which transformers passes to attention as they are.
    """
    blocked = torch.tensor(torch.finfo(dtype).min, dtype=dtype, device=allowed.device)
    return torch.where(allowed, torch.zeros((), dtype=dtype, device=allowed.device), blocked)


def encode_prefix(model: PreTrainedModel, input_ids: Tensor, attention_mask: Tensor) -> Prefix:
    """Run ``B`` left-padded prefixes ``[B, P]`` through ``model`` once, keeping their KV cache.

    Gradients flow through the cache when grad is enabled (LoRA changes prompt activations too).
    """
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
        cache=DynamicCache(config=model.config),
        use_cache=True,
        logits_to_keep=1,
    )
    return Prefix(cache=out.cache, attention_mask=attention_mask, last_logits=out.logits[:, -1])


def expand_cache(cache: DynamicCache, rows: Tensor, config) -> DynamicCache:
    """A new cache whose row ``n`` is row ``rows[n]`` of ``cache`` (``cache`` is not modified)."""
    layers = [(layer.keys.index_select(0, rows), layer.values.index_select(0, rows)) for layer in cache.layers]
    return DynamicCache(ddp_cache_data=layers, config=config)


def forward_continuation(
    model: PreTrainedModel,
    prefix: Prefix,
    rows: Tensor,
    input_ids: Tensor,
    attention_mask: Tensor,
    logits_to_keep: int = 0,
) -> Tensor:
    """Logits of ``N`` continuations, continuation ``n`` following prefix ``rows[n]``.

    Args:
        prefix: from :func:`encode_prefix`.
        rows: ``[N]`` long, index of each continuation's prefix (e.g. ``arange(B).repeat_interleave(G)``).
        input_ids: ``[N, T]`` continuation tokens (left- or right-padded).
        attention_mask: ``[N, T]`` 0/1.
        logits_to_keep: 0 for all ``T`` positions, else only the last ``logits_to_keep``.

    Returns:
        ``[N, T, V]`` (or ``[N, logits_to_keep, V]``) logits; position ``t`` predicts token ``t + 1``.
    """
    prefix_mask = prefix.attention_mask.index_select(0, rows)
    out = model(
        input_ids=input_ids,
        attention_mask=torch.cat([prefix_mask, attention_mask], dim=-1),
        position_ids=position_ids_from_mask(attention_mask, offset=prefix_mask.sum(-1)),
        cache=expand_cache(prefix.cache, rows, model.config),
        use_cache=True,
        logits_to_keep=logits_to_keep,
    )
    return out.logits


def forward_full(model: PreTrainedModel, input_ids: Tensor, attention_mask: Tensor, logits_to_keep: int = 0) -> Tensor:
    """The naive path: one forward over whole ``[N, L]`` sequences with mask-derived positions."""
    return model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
        use_cache=False,
        logits_to_keep=logits_to_keep,
    ).logits
