"""Fixtures for the model tests: a tiny Llama, its tokenizer and a batch of left-padded prompts."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerBase

from bump_pl.models.tiny import tiny_random_llama, tiny_tokenizer


@pytest.fixture
def tiny_llama() -> LlamaForCausalLM:
    """Seeded 2-layer Llama whose EOS logit is boosted so some rollouts stop before the budget."""
    model = tiny_random_llama(seed=3)
    with torch.no_grad():
        model.lm_head.weight[1] *= 25.0  # id 1 is EOS in ByT5
    return model


@pytest.fixture
def tokenizer() -> PreTrainedTokenizerBase:
    return tiny_tokenizer()


@pytest.fixture
def prompts(tokenizer: PreTrainedTokenizerBase) -> tuple[torch.Tensor, torch.Tensor]:
    """Three left-padded prompts of different lengths: ``input_ids, attention_mask`` ``[3, P]``."""
    texts = ["user history: liked Alien, Heat", "short", "a longer history: Up, Brazil, Ran, Ikiru, Stalker"]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    return batch.input_ids, batch.attention_mask
