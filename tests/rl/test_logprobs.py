"""Shared-prompt training log-probs equal the naive full-sequence ones, in value and in gradient."""

import math
from dataclasses import replace

import pytest
import torch

from bump_pl.models.lora import LoraSettings
from bump_pl.models.policy import build_policy
from bump_pl.models.rollout import Rollouts, SamplingSettings, generate_rollouts
from bump_pl.rl.logprobs import completion_logprobs, completion_logprobs_entropy, token_logprobs, token_logprobs_entropy

G = 3


@pytest.fixture
def rollouts(tiny_llama, tokenizer, prompts):
    torch.manual_seed(0)
    return generate_rollouts(tiny_llama, tokenizer, *prompts, group_size=G, settings=SamplingSettings(max_new_tokens=12))


@pytest.mark.parametrize("chunk_rows", [1, 3, 100])
def test_token_logprobs_equal_log_softmax_gather(chunk_rows):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 4, 11, generator=gen)
    tokens = torch.randint(0, 11, (5, 4), generator=gen)
    expected = torch.log_softmax(logits / 0.7, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(token_logprobs(logits, tokens, 0.7, chunk_rows=chunk_rows), expected)


def test_token_logprobs_hand_value():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0]])  # uniform over 4 tokens
    assert token_logprobs(logits, torch.tensor([2])).item() == pytest.approx(-torch.log(torch.tensor(4.0)).item())


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_shared_logprobs_equal_naive_and_are_zero_when_masked(tiny_llama, prompts, rollouts, temperature):
    at_temperature = replace(rollouts, temperature=temperature)
    with torch.no_grad():
        shared = completion_logprobs(tiny_llama, at_temperature, share_prompt=True)
        naive = completion_logprobs(tiny_llama, at_temperature, share_prompt=False)
    assert shared.shape == rollouts.completion_ids.shape
    assert (shared[rollouts.completion_mask == 0] == 0).all()
    assert (shared[rollouts.completion_mask == 1] < 0).all()
    torch.testing.assert_close(shared, naive, atol=1e-5, rtol=0)


def test_first_token_logprob_is_the_temperature_scaled_next_token_distribution(tiny_llama, tokenizer):
    prompt = tokenizer(["hello"], return_tensors="pt")
    completion = torch.tensor([[72, 1]])
    with torch.no_grad():
        logprobs = completion_logprobs(
            tiny_llama, Rollouts(prompt.input_ids, prompt.attention_mask, completion, torch.ones_like(completion), 1, 0.5)
        )
        logits = tiny_llama(torch.cat([prompt.input_ids, completion], 1)).logits[0]
    p = prompt.input_ids.shape[1]
    expected = torch.log_softmax(logits[p - 1 : p + 1] / 0.5, -1)[[0, 1], completion[0]]
    torch.testing.assert_close(logprobs[0], expected, atol=1e-5, rtol=0)


def _grads(model, prompts, rollouts, share_prompt):
    model.zero_grad()
    logprobs = completion_logprobs(model, replace(rollouts, temperature=0.8), share_prompt=share_prompt)
    (logprobs * torch.linspace(-1, 1, logprobs.numel()).view_as(logprobs)).sum().backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}


def test_lora_gradients_shared_equal_naive(tiny_llama, prompts, rollouts):
    policy = build_policy(tiny_llama, LoraSettings(rank=4, alpha=8.0, dropout=0.0))
    with torch.no_grad():  # peft starts B at zero; make the adapter non-trivial so A gets gradients too
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    shared = _grads(policy, prompts, rollouts, True)
    naive = _grads(policy, prompts, rollouts, False)
    assert shared.keys() == naive.keys() and len(shared) == 2 * 2 * 7
    for name in shared:
        assert naive[name].abs().max() > 0, name
        rel = (shared[name] - naive[name]).norm() / naive[name].norm()
        assert rel <= 1e-4, (name, rel.item())


def test_completion_shape_mismatch_is_rejected(rollouts):
    with pytest.raises(ValueError, match="U\\*G"):
        replace(rollouts, group_size=G + 1)


def test_entropy_by_hand_and_alongside_the_same_logprobs(tiny_llama, prompts, rollouts):
    # uniform over 4 tokens: entropy log 4; one-hot-ish: near 0
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [50.0, 0.0, 0.0, 0.0]]])
    out = token_logprobs_entropy(logits, torch.tensor([[1, 0]]))
    torch.testing.assert_close(out.entropy, torch.tensor([[math.log(4.0), 0.0]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(out.logps, token_logprobs(logits, torch.tensor([[1, 0]])))
    at_temperature = replace(rollouts, temperature=0.7)
    with torch.no_grad():
        both = completion_logprobs_entropy(tiny_llama, at_temperature)
        naive = completion_logprobs_entropy(tiny_llama, at_temperature, share_prompt=False)
        alone = completion_logprobs(tiny_llama, at_temperature)
    torch.testing.assert_close(both.logps, alone)
    torch.testing.assert_close(both.entropy, naive.entropy, atol=1e-5, rtol=0)
    real = rollouts.completion_mask == 1
    assert (both.entropy[~real] == 0).all() and (both.entropy[real] > 0).all()
    assert (both.entropy[real] <= math.log(tiny_llama.config.vocab_size) + 1e-4).all()
