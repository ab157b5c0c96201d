"""Tiny frozen-judge fixtures: fresh random models (judges freeze them in place) and a byte tokenizer."""

import pytest
from transformers import ByT5Tokenizer

from bump_pl.models.tiny import tiny_random_encoder, tiny_random_llama, tiny_tokenizer


class NoSpecialTokensByT5(ByT5Tokenizer):
    """ByT5 without the trailing eos, so that ``""`` tokenizes to no tokens at all."""

    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None):
        return token_ids_0 if token_ids_1 is None else token_ids_0 + token_ids_1


@pytest.fixture
def tokenizer() -> ByT5Tokenizer:
    return tiny_tokenizer()


@pytest.fixture
def no_special_tokenizer() -> ByT5Tokenizer:
    return NoSpecialTokensByT5()


@pytest.fixture
def llama():
    return tiny_random_llama(seed=3)


@pytest.fixture
def encoder():
    return tiny_random_encoder(seed=4)
