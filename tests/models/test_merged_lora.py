"""merged_lora: generation with the adapters folded into the base weights, and the base weights untouched after."""

from __future__ import annotations

from contextlib import nullcontext
from types import SimpleNamespace

import pytest
import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.tuners_utils import BaseTunerLayer

from bump_pl.models import generator as generator_module
from bump_pl.models.generator import ProfileGenerator
from bump_pl.models.lora import LoraSettings
from bump_pl.models.merged_lora import foldable_lora_layers, merged_lora
from bump_pl.models.policy import build_policy
from bump_pl.models.rollout import SamplingSettings
from bump_pl.models.tiny import tiny_random_llama

IDS = torch.tensor([[5, 17, 42, 99, 3, 8, 120], [7, 7, 61, 2, 88, 19, 4]])


def _random_b(policy, seed: int):
    """``policy`` with a random LoRA ``B`` (a fresh one is zero: folding it would hide a wrong fold), in eval mode."""
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.3, generator=torch.Generator().manual_seed(seed))
    return policy.eval()


def _trained_policy():
    """A tiny LoRA policy (every linear layer) whose adapter is not a no-op."""
    return _random_b(build_policy(tiny_random_llama(seed=0), LoraSettings(rank=4, alpha=8.0, dropout=0.0)), seed=1)


def _lora_layers(policy) -> list[BaseTunerLayer]:
    return [module for module in policy.modules() if isinstance(module, BaseTunerLayer)]


def _logits(policy) -> torch.Tensor:
    with torch.no_grad():
        return policy(input_ids=IDS).logits


def test_folded_forward_equals_the_adapter_path_and_the_base_weights_come_back_bit_for_bit():
    policy = _trained_policy()
    adapter_path, weights = _logits(policy), {n: p.detach().clone() for n, p in policy.named_parameters()}
    with policy.disable_adapter():
        base_only = _logits(policy)
    assert (adapter_path - base_only).abs().max() > 0.1  # the adapter matters, so a fold that did nothing would show
    with merged_lora(policy) as folded:
        inside = _logits(policy)
        assert all(layer.disable_adapters for layer in _lora_layers(policy))  # adapters off: not counted twice
    assert folded
    torch.testing.assert_close(inside, adapter_path, rtol=1e-5, atol=1e-5)
    for name, p in policy.named_parameters():
        assert torch.equal(p, weights[name]), name
    assert torch.equal(_logits(policy), adapter_path)  # adapters on again
    assert all(p.requires_grad == ("lora_" in n) for n, p in policy.named_parameters())  # what trains is unchanged


def test_the_weights_come_back_when_generation_fails_inside():
    policy = _trained_policy()
    weights = {n: p.detach().clone() for n, p in policy.named_parameters()}
    with pytest.raises(RuntimeError, match="boom"), merged_lora(policy):
        raise RuntimeError("boom")
    assert all(torch.equal(p, weights[n]) for n, p in policy.named_parameters())
    assert not any(layer.disable_adapters for layer in _lora_layers(policy))


def test_adapters_on_chosen_layers_fold_to_the_adapter_path():
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
    policy = _random_b(get_peft_model(tiny_random_llama(seed=0), config), seed=2)
    expected = _logits(policy)
    with merged_lora(policy) as folded:
        torch.testing.assert_close(_logits(policy), expected, rtol=1e-5, atol=1e-5)
    assert folded and len(foldable_lora_layers(policy)) == 4  # q and v of 2 layers


@pytest.mark.parametrize(
    "case",
    ["no adapter", "dora", "already merged", "sharded weight"],
)
def test_policies_that_cannot_be_folded_exactly_run_unchanged(case):
    if case == "no adapter":
        policy = tiny_random_llama(seed=0).eval()
    elif case == "dora":
        policy = get_peft_model(tiny_random_llama(seed=0), LoraConfig(r=4, target_modules=["q_proj"], use_dora=True)).eval()
    else:
        policy = _trained_policy()
        if case == "already merged":
            policy.merge_adapter()
        else:  # what FSDP (use_orig_params) or ZeRO-3 leave in a module between forwards: a flat shard
            weight = policy.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight
            weight.data = weight.data.flatten()[: weight.numel() // 2].clone()
    if case == "sharded weight":
        weights = {n: p.detach().clone() for n, p in policy.named_parameters()}
        with merged_lora(policy) as folded:
            pass
        assert all(torch.equal(p, weights[n]) for n, p in policy.named_parameters())
    else:
        expected = _logits(policy)
        with merged_lora(policy) as folded:
            assert torch.equal(_logits(policy), expected)
    assert not folded and foldable_lora_layers(policy) == []


def test_generator_samples_and_profiles_from_the_folded_policy(prompts, monkeypatch):
    sampling = SamplingSettings(max_new_tokens=6, temperature=0.7)
    generator = ProfileGenerator("tiny-random-llama", lora=LoraSettings(rank=4, alpha=8.0, dropout=0.0), sampling=sampling)
    generator.policy = _trained_policy()
    batch = SimpleNamespace(input_ids=prompts[0], attention_mask=prompts[1])
    seen = []
    q_proj = generator.policy.base_model.model.model.layers[0].self_attn.q_proj
    q_proj.register_forward_pre_hook(lambda module, args: seen.append(module.disable_adapters))

    torch.manual_seed(0)
    folded = (generator.rollouts(batch, 2), generator.profiles(batch))
    assert seen and all(seen)  # every forward of generation ran folded
    seen.clear()
    monkeypatch.setattr(generator_module, "merged_lora", lambda policy: nullcontext(False))
    torch.manual_seed(0)
    unfolded = (generator.rollouts(batch, 2), generator.profiles(batch))
    assert seen and not any(seen)
    assert torch.equal(folded[0].completion_ids, unfolded[0].completion_ids)  # the same draws, float rounding aside
    assert folded[1] == unfolded[1]
