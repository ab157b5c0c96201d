"""grad_budget_tokens 'auto': derived activation bytes, monotone in free memory, small on CPU."""

import pytest
import torch
from transformers import Qwen2Config

from bump_pl.models.tiny import tiny_random_llama
from bump_pl.rl.memory import (
    activation_bytes_per_token,
    auto_grad_budget_tokens,
    budget_from_free_memory,
)

GiB = 2**30
QWEN_1_5B = Qwen2Config(
    hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
    num_key_value_heads=2, vocab_size=151936,
)


def test_activation_bytes_of_qwen_1_5b_by_hand():
    per_layer = 2 * (18 * 1536 + 4 * 2 * 128 + 5 * 8960)
    assert activation_bytes_per_token(QWEN_1_5B, 2) == 28 * per_layer + 14 * 151936 == 6_241_536


@pytest.mark.parametrize(("card_gb", "expected"), [(24, 1408), (80, 5504), (141, 10112)])
def test_qwen_1_5b_budgets_leave_half_the_free_memory_and_fit_the_80_gb_target(card_gb, expected):
    per_token = activation_bytes_per_token(QWEN_1_5B, 2)
    free = (card_gb - 5) * GiB  # 5 GiB of policy + judge weights already loaded
    budget = budget_from_free_memory(free, per_token)
    assert budget == expected and budget % 128 == 0
    assert budget * per_token * 1.15 <= 0.5 * free  # estimated update peak within half the free memory
    assert 5 * GiB + budget * 6.8e6 <= min(80, card_gb) * GiB  # at the H200-measured 6.8 MB/token


def test_budget_is_monotone_in_free_memory_and_never_below_the_minimum():
    per_token = activation_bytes_per_token(QWEN_1_5B, 2)
    budgets = [budget_from_free_memory(gb * GiB, per_token) for gb in range(0, 200, 7)]
    assert budgets == sorted(budgets) and budgets[0] == 256 and budgets[-1] > 10_000
    with pytest.raises(ValueError, match="fraction"):
        budget_from_free_memory(GiB, per_token, fraction=0)


def test_cpu_keeps_the_small_budget_and_cuda_reads_free_memory_from_the_caller():
    model = tiny_random_llama(seed=0)
    assert auto_grad_budget_tokens(model, "cpu") == 256
    expected = budget_from_free_memory(8 * GiB, activation_bytes_per_token(model.config, 4))
    assert auto_grad_budget_tokens(model, "cuda", free_bytes=8 * GiB) == expected  # no CUDA call with free_bytes
    bf16 = auto_grad_budget_tokens(model, "cuda", free_bytes=8 * GiB, activation_dtype=torch.bfloat16)
    assert bf16 > expected  # half the bytes per layer activation
