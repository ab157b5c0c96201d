"""policy_update: the one-pass and memory-bounded paths give the same loss, stats, entropy and
gradients for every loss knob; mini-batches split by users; dapo's all-ranks token count."""

from dataclasses import replace

import pytest
import torch

from bump_pl.core.grpo import GRPOSettings
from bump_pl.models.lora import LoraSettings
from bump_pl.models.policy import build_policy
from bump_pl.models.rollout import Rollouts, SamplingSettings, generate_rollouts
from bump_pl.rl.logprobs import completion_logprobs
from bump_pl.rl.policy_update import policy_update, score_rollouts, tokens_all_ranks
from bump_pl.rl.reference import ReferencePolicy

G = 2


@pytest.fixture
def policy(tiny_llama):
    policy = build_policy(tiny_llama, LoraSettings(rank=4, alpha=8.0, dropout=0.0)).train()
    with torch.no_grad():  # a non-trivial adapter so every LoRA weight gets a gradient
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    return policy


@pytest.fixture
def batch(policy, tokenizer, prompts) -> Rollouts:
    """Rollouts of 3 users with off-policy old log-probs (the policy moved a little since sampling)."""
    torch.manual_seed(0)
    rollouts = generate_rollouts(policy, tokenizer, *prompts, group_size=G, settings=SamplingSettings(max_new_tokens=10))
    scored = score_rollouts(
        policy, ReferencePolicy(policy, beta=0.1), replace(rollouts, temperature=0.9),
        advantages=torch.tensor([1.0, -1.0, 0.5, -0.5, 2.0, -2.0]), keep=torch.tensor([True, True, False, False, True, True]),
        need_old=True,
    )
    gen = torch.Generator().manual_seed(1)
    shift = (torch.rand(scored.old_logps.shape, generator=gen) - 0.5) * 0.8 * scored.completion_mask
    return replace(scored, old_logps=scored.old_logps + shift)


def _grads(policy) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in policy.named_parameters() if p.requires_grad}


@pytest.mark.parametrize(
    "settings",
    [GRPOSettings(beta=0.1), GRPOSettings(beta=0.1, loss_type="dr_grpo", importance_sampling_level="sequence"),
     GRPOSettings(loss_type="dapo", epsilon_high=0.28), GRPOSettings(loss_type="bnpo")],
    ids=["grpo", "dr_grpo-sequence", "dapo", "bnpo"],
)
def test_chunked_update_equals_one_pass_update(policy, batch, settings):
    results, grads = [], []
    for budget in (0, 24):  # 24 tokens: several context segments and row chunks
        policy.zero_grad()
        results.append(policy_update(policy, batch, settings, max_new_tokens=10, budget_tokens=budget))
        grads.append(_grads(policy))
    one_pass, chunked = results
    assert float(one_pass.loss) != 0.0
    torch.testing.assert_close(chunked.loss, one_pass.loss, atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(chunked.entropy, one_pass.entropy, atol=1e-5, rtol=0)
    for field in ("clip_low", "clip_high", "kl", "ratio"):
        torch.testing.assert_close(getattr(chunked.stats, field), getattr(one_pass.stats, field), atol=1e-5, rtol=0)
    if settings.importance_sampling_level == "token":  # the shifted old log-probs clip some tokens
        assert float(one_pass.stats.clip_region) > 0
    for name, expected in grads[0].items():
        assert expected.abs().max() > 0, name
        assert (grads[1][name] - expected).norm() / expected.norm() <= 1e-4, name


def test_on_policy_first_step_has_ratio_one(policy, batch):
    on_policy = replace(batch, old_logps=None)
    result = policy_update(policy, on_policy, GRPOSettings(), max_new_tokens=10, budget_tokens=0)
    assert float(result.stats.ratio) == pytest.approx(1.0) and float(result.stats.clip_region) == 0.0


def test_old_logprobs_are_the_sampling_mode_ones(policy, batch, prompts):
    """score_rollouts takes old log-probs in eval mode, whatever mode the policy is in."""
    policy.train()
    with torch.no_grad():
        expected = completion_logprobs(policy.eval(), batch)
    policy.train()
    scored = score_rollouts(policy, ReferencePolicy(policy, beta=0.0), batch, advantages=batch.advantages, keep=None, need_old=True)
    torch.testing.assert_close(scored.old_logps, expected)
    assert scored.ref_logps is None and policy.training


def test_mini_batches_split_by_users(batch):
    parts = batch.mini_batches(2)
    assert [p.num_users for p in parts] == [2, 1]  # round(1.5) = 2
    assert torch.equal(torch.cat([p.completion_ids for p in parts]), batch.completion_ids)
    assert torch.equal(torch.cat([p.keep for p in parts]), batch.keep)
    assert all(p.completion_ids.shape[0] == p.num_users * G for p in parts)
    with pytest.raises(ValueError, match="steps_per_generation=4"):
        batch.mini_batches(4)


def test_dapo_token_count_on_one_process_is_the_kept_tokens(batch):
    count, world = tokens_all_ranks(batch)
    assert world == 1
    assert float(count) == float((batch.completion_mask.bool() & batch.keep[:, None]).sum())


def test_dapo_mini_batches_share_the_generation_batchs_normaliser_as_trl(policy, batch):
    """TRL's dapo divides every mini-batch by (the generation batch's kept tokens / steps_per_generation):
    here mini-batches of n1 and n2 kept tokens each weigh 2 / (n1 + n2) per token, not 1/n1 and 1/n2."""
    settings = GRPOSettings(loss_type="dapo")
    batch = replace(batch, keep=torch.ones_like(batch.keep))  # users 0-1 | user 2: twice the tokens in the first
    parts = batch.mini_batches(2)
    kept = [int((p.completion_mask.bool() & p.keep[:, None]).sum()) for p in parts]
    assert kept[0] != kept[1]
    normaliser = tokens_all_ranks(batch, 2)
    assert float(normaliser[0]) == pytest.approx(sum(kept) / 2) and normaliser[1] == 1
    for part, own in zip(parts, kept):
        alone = policy_update(policy, part, settings, max_new_tokens=10, budget_tokens=0)
        shared = policy_update(policy, part, settings, max_new_tokens=10, budget_tokens=0, dapo_normaliser=normaliser)
        assert float(alone.loss) != 0.0
        torch.testing.assert_close(shared.loss, alone.loss * own / (sum(kept) / 2))


def test_without_prompt_gradients_one_chunk_equals_small_chunks(policy, batch):
    """``prompt_gradients=False`` with budget 0 (one chunk) equals a small budget; the loss equals
    the exact update's (only the gradient is approximate)."""
    settings = GRPOSettings(beta=0.1)
    results, grads = [], []
    for budget, exact in ((0, True), (0, False), (24, False)):
        policy.zero_grad()
        results.append(policy_update(policy, batch, settings, max_new_tokens=10, budget_tokens=budget, prompt_gradients=exact))
        grads.append(_grads(policy))
    torch.testing.assert_close(results[1].loss, results[0].loss, atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(results[2].loss, results[1].loss, atol=1e-6, rtol=1e-4)
    for name, expected in grads[1].items():
        assert expected.abs().max() > 0, name
        assert (grads[2][name] - expected).norm() / expected.norm() <= 1e-4, name
    assert any((grads[0][n] - grads[1][n]).norm() / grads[0][n].norm() > 1e-2 for n in grads[0])
