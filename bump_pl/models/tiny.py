"""Tiny randomly initialised models for tests and CPU smoke runs; no files, no network.

Both use ``ByT5Tokenizer()`` (byte-level, 384 ids, built without any file): pad id 0,
eos id 1, no bos and no chat template.
"""

from __future__ import annotations

import torch
from transformers import BertConfig, BertModel, ByT5Tokenizer, LlamaConfig, LlamaForCausalLM


def tiny_tokenizer() -> ByT5Tokenizer:
    """A byte-level tokenizer that needs no files (padding on the left, for generation)."""
    tokenizer = ByT5Tokenizer()
    tokenizer.padding_side = "left"
    return tokenizer


def tiny_random_llama(seed: int = 0) -> LlamaForCausalLM:
    """A 2-layer Llama (hidden 64, 4 heads, 2 KV heads) over ByT5's vocabulary, seeded."""
    tokenizer = ByT5Tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(config)


def tiny_random_encoder(seed: int = 0) -> BertModel:
    """A 2-layer BERT encoder (hidden 64) over ByT5's vocabulary, seeded."""
    tokenizer = ByT5Tokenizer()
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BertModel(config)
