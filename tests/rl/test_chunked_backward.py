"""Memory-bounded backward == one forward and backward over everything, in values and gradients."""

from dataclasses import replace

import pytest
import torch

from bump_pl.models.lora import LoraSettings
from bump_pl.models.policy import build_policy
from bump_pl.models.prefix import encode_prefix, forward_continuation
from bump_pl.models.rollout import SamplingSettings, generate_rollouts
from bump_pl.rl.chunked_backward import _context_blocks, backward_completion_logprobs
from bump_pl.rl.logprobs import completion_logprobs, completion_logprobs_entropy, token_logprobs

G = 3


def _policy(tiny_llama, dropout: float):
    policy = build_policy(tiny_llama, LoraSettings(rank=4, alpha=8.0, dropout=dropout)).train()
    with torch.no_grad():  # peft starts B at zero; make the adapter non-trivial so A gets gradients too
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    return policy


@pytest.fixture
def rollouts(tiny_llama, tokenizer, prompts):
    torch.manual_seed(0)
    return generate_rollouts(tiny_llama, tokenizer, *prompts, group_size=G, settings=SamplingSettings(max_new_tokens=12))


def _weights(rollouts) -> torch.Tensor:
    """A fixed ``[N, T]`` weighting: the row-separable loss ``sum(weights * logps)``."""
    return torch.linspace(-1, 1, rollouts.completion_ids.numel()).view(rollouts.completion_ids.shape)


def _grads(model) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}


def _assert_close_grads(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys() and len(got) == 2 * 2 * 7
    for name in got:
        assert expected[name].abs().max() > 0, name
        rel = (got[name] - expected[name]).norm() / expected[name].norm()
        assert rel <= 1e-4, (name, rel.item())


@pytest.mark.parametrize("budget", [1, 7, 40, 120, 100_000])  # 120: two whole prompts per block
def test_chunked_values_and_gradients_equal_one_full_pass(tiny_llama, prompts, rollouts, budget):
    policy = _policy(tiny_llama, dropout=0.0)
    weights = _weights(rollouts)
    rollouts = replace(rollouts, temperature=0.8)

    policy.zero_grad()
    full = completion_logprobs(policy, rollouts, share_prompt=False)
    (full * weights).sum().backward()
    expected = _grads(policy)

    policy.zero_grad()
    seen: list[int] = []

    def row_loss(rows, logps):
        seen.extend(rows.tolist())
        return (logps * weights[rows]).sum()

    chunked = backward_completion_logprobs(policy, rollouts, row_loss=row_loss, budget_tokens=budget)
    assert sorted(seen) == list(range(rollouts.completion_ids.shape[0]))  # every row exactly once
    assert not chunked.logps.requires_grad and not chunked.loss.requires_grad
    torch.testing.assert_close(chunked.logps, full.detach(), atol=1e-5, rtol=0)
    assert float(chunked.loss) == pytest.approx(float((full * weights).sum()), rel=1e-4)  # the row losses add up
    with torch.no_grad():
        expected_entropy = completion_logprobs_entropy(policy, rollouts).entropy
    torch.testing.assert_close(chunked.entropy, expected_entropy, atol=1e-5, rtol=0)
    _assert_close_grads(_grads(policy), expected)


def test_dropout_is_replayed_when_the_context_is_run_again(tiny_llama, prompts, rollouts):
    """With LoRA dropout on, phase 3 must see the dropout masks phase 1 drew: then the gradient
    equals one pass that draws them in the same order (context, then continuations)."""
    policy = _policy(tiny_llama, dropout=0.3)
    weights = _weights(rollouts)
    ids, mask = prompts
    completion, completion_mask = rollouts.completion_ids, rollouts.completion_mask

    torch.manual_seed(7)
    policy.zero_grad()
    context = encode_prefix(policy, ids[:, :-1], mask[:, :-1])
    rows = torch.arange(ids.shape[0]).repeat_interleave(G)
    inputs = torch.cat([ids[rows, -1:], completion[:, :-1]], dim=1)
    input_mask = torch.cat([torch.ones_like(completion_mask[:, :1]), completion_mask[:, :-1]], dim=1)
    logits = forward_continuation(policy, context, rows, inputs, input_mask)
    logps = torch.log_softmax(logits.float(), -1).gather(-1, completion.unsqueeze(-1)).squeeze(-1) * completion_mask
    (logps * weights).sum().backward()
    expected = _grads(policy)

    torch.manual_seed(7)
    policy.zero_grad()
    backward_completion_logprobs(
        policy, rollouts, row_loss=lambda r, lp: (lp * weights[r]).sum(), budget_tokens=100_000,
    )
    _assert_close_grads(_grads(policy), expected)


def test_short_prompts_and_bad_shapes_are_rejected(tiny_llama, prompts, rollouts):
    ids, mask = prompts
    one_token = mask.clone()
    one_token[1] = 0
    one_token[1, -1] = 1
    loss = lambda r, lp: lp.sum()  # noqa: E731
    with pytest.raises(ValueError, match="at least 2 real tokens"):
        backward_completion_logprobs(tiny_llama, replace(rollouts, prompt_mask=one_token), row_loss=loss)
    with pytest.raises(ValueError, match="U\\*G"):
        backward_completion_logprobs(tiny_llama, replace(rollouts, group_size=G + 1), row_loss=loss)
    with pytest.raises(ValueError, match="budget_tokens"):
        backward_completion_logprobs(tiny_llama, rollouts, row_loss=loss, budget_tokens=0)


def test_context_blocks_by_hand():
    # whole prompts while they fit: 10 // 4 = 2 prompts of 4 tokens per block
    assert _context_blocks(3, 4, 10) == [(0, 2, 0, 4), (2, 3, 0, 4)]
    # a prompt longer than the budget runs alone, in segments of the budget
    assert _context_blocks(2, 5, 2) == [(0, 1, 0, 2), (0, 1, 2, 4), (0, 1, 4, 5), (1, 2, 0, 2), (1, 2, 2, 4), (1, 2, 4, 5)]
    # every context token of every prompt is covered exactly once
    covered = sorted((u, t) for first, end, start, stop in _context_blocks(5, 9, 7) for u in range(first, end) for t in range(start, stop))
    assert covered == [(u, t) for u in range(5) for t in range(9)]


@pytest.mark.parametrize("budget", [7, 100_000])
def test_without_prompt_gradients_the_context_is_a_constant(tiny_llama, prompts, rollouts, budget):
    """``prompt_gradients=False``: the same log-probs, and the gradient of a path built independently
    from prefix.py, whose context (every prompt token but the last) is encoded without grad."""
    policy = _policy(tiny_llama, dropout=0.0)
    weights = _weights(rollouts)
    ids, mask = rollouts.prompt_ids, rollouts.prompt_mask
    completion_ids, completion_mask = rollouts.completion_ids, rollouts.completion_mask

    policy.zero_grad()
    full = completion_logprobs(policy, rollouts)
    (full * weights).sum().backward()
    exact = _grads(policy)

    policy.zero_grad()
    with torch.no_grad():
        context = encode_prefix(policy, ids[:, :-1], mask[:, :-1])
    rows = rollouts.prompt_of_row()
    inputs = torch.cat([ids[rows, -1:], completion_ids[:, :-1]], dim=1)
    input_mask = torch.cat([torch.ones_like(completion_mask[:, :1]), completion_mask[:, :-1]], dim=1)
    logits = forward_continuation(policy, context, rows, inputs, input_mask)
    reference = token_logprobs(logits, completion_ids, rollouts.temperature) * completion_mask
    (reference * weights).sum().backward()
    expected = _grads(policy)

    policy.zero_grad()
    chunked = backward_completion_logprobs(
        policy, rollouts, row_loss=lambda r, logps: (logps * weights[r]).sum(), budget_tokens=budget, prompt_gradients=False
    )
    torch.testing.assert_close(chunked.logps, full.detach(), atol=1e-5, rtol=0)  # the values are exact
    _assert_close_grads(_grads(policy), expected)
    differs = [(exact[n] - expected[n]).norm() / exact[n].norm() for n in exact]
    assert max(differs) > 1e-2  # ... the gradient is not: the context's share is missing


@pytest.mark.parametrize("budget", [7, 100_000])
def test_without_prompt_gradients_the_sampling_cache_replaces_the_context_pass(tiny_llama, tokenizer, prompts, budget):
    """Rollouts that kept their prompts' KV cache: the same log-probs, loss and gradient as running
    the context again (weights unchanged since sampling, no dropout), and no forward of the context."""
    policy = _policy(tiny_llama, dropout=0.0)
    torch.manual_seed(0)
    kept = generate_rollouts(policy, tokenizer, *prompts, group_size=G, settings=SamplingSettings(max_new_tokens=12), keep_prompt_kv=True)
    weights = _weights(kept)
    widths = []  # the input width of every forward of the policy
    hook = policy.get_base_model().register_forward_pre_hook(
        lambda module, args, kwargs: widths.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    results, grads, forwards = [], [], []
    for rollouts in (replace(kept, prompt_kv=None), kept):
        policy.zero_grad()
        widths.clear()
        results.append(backward_completion_logprobs(
            policy, rollouts, row_loss=lambda r, logps: (logps * weights[r]).sum(), budget_tokens=budget, prompt_gradients=False
        ))
        grads.append(_grads(policy))
        forwards.append(list(widths))
    hook.remove()
    rerun, reused = results
    torch.testing.assert_close(reused.logps, rerun.logps, atol=1e-5, rtol=0)
    torch.testing.assert_close(reused.loss, rerun.loss, atol=1e-4, rtol=0)
    _assert_close_grads(grads[1], grads[0])
    width = kept.completion_ids.shape[1]  # phase 2's input: the last prompt token and all but the last completion token
    assert set(forwards[1]) == {width}  # only the continuations ran ...
    assert len(forwards[0]) > len(forwards[1]) and set(forwards[0]) != {width}  # ... where the rerun also ran the context
