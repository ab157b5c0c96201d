"""LoRA policy: what trains, the adapter-off reference, full fine-tuning's frozen copy, export."""

import copy

import pytest
import torch
from peft import PeftModel

from bump_pl.models.loading import load_causal_lm
from bump_pl.models.lora import LoraSettings
from bump_pl.models.policy import build_policy, export_policy
from bump_pl.models.rollout import Rollouts
from bump_pl.rl.logprobs import completion_logprobs
from bump_pl.rl.reference import ReferencePolicy

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _randomise_adapter(policy) -> None:
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Two right-padded completions ``[6, 5]`` per prompt of the ``prompts`` fixture (G = 2)."""
    gen = torch.Generator().manual_seed(0)
    completion = torch.randint(3, 250, (6, 5), generator=gen)
    mask = torch.ones_like(completion)
    mask[1, 3:] = 0
    return completion, mask


def _logprobs(model, prompts, completion, mask):
    with torch.no_grad():
        return completion_logprobs(model.eval(), Rollouts(*prompts, completion, mask, group_size=2))


def test_only_adapter_weights_train_and_all_projections_are_adapted(tiny_llama):
    policy = build_policy(tiny_llama, LoraSettings(rank=4))
    trainable = [name for name, p in policy.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    adapted = {name.split(".")[-4] for name in trainable}
    assert adapted == set(PROJECTIONS)  # "all-linear" spares the LM head
    assert len(trainable) == 2 * 2 * len(PROJECTIONS)  # A and B, 2 layers


def test_full_fine_tuning_trains_everything(tiny_llama):
    tiny_llama.requires_grad_(False)
    policy = build_policy(tiny_llama, None)
    assert policy is tiny_llama and all(p.requires_grad for p in policy.parameters())


def test_lora_reference_is_the_base_model_and_holds_no_copy(tiny_llama, prompts, batch):
    base = copy.deepcopy(tiny_llama)
    policy = build_policy(tiny_llama, LoraSettings(rank=4, dropout=0.1))
    _randomise_adapter(policy)
    completion, mask = batch
    policy.train()
    reference = ReferencePolicy(policy, beta=0.1)
    assert reference.frozen is None
    ref = reference.logprobs(Rollouts(*prompts, completion, mask, group_size=2))
    assert policy.training and not ref.requires_grad
    torch.testing.assert_close(ref, _logprobs(base, prompts, completion, mask), atol=1e-6, rtol=0)
    adapted = _logprobs(policy, prompts, completion, mask)
    assert (adapted - ref).abs().max() > 1e-3  # the adapter is back on after the reference pass


def test_full_fine_tuning_reference_is_a_frozen_copy(tiny_llama, prompts, batch):
    completion, mask = batch
    policy = build_policy(tiny_llama, None)
    reference = ReferencePolicy(policy, beta=0.1)
    before = reference.logprobs(Rollouts(*prompts, completion, mask, group_size=2))
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.01)
    torch.testing.assert_close(reference.logprobs(Rollouts(*prompts, completion, mask, group_size=2)), before)
    assert all(not p.requires_grad for p in reference.frozen.parameters())
    assert (_logprobs(policy, prompts, completion, mask) - before).abs().max() > 1e-3


def test_beta_zero_means_no_reference(tiny_llama, prompts, batch):
    reference = ReferencePolicy(build_policy(tiny_llama, None), beta=0.0)
    assert not reference.enabled and reference.frozen is None
    with pytest.raises(RuntimeError, match="beta == 0"):
        reference.logprobs(Rollouts(*prompts, *batch, group_size=2))


def test_export_merged_and_adapter_reproduce_the_policy(tiny_llama, tokenizer, prompts, batch, tmp_path):
    base = copy.deepcopy(tiny_llama)
    policy = build_policy(tiny_llama, LoraSettings(rank=4, dropout=0.0))
    _randomise_adapter(policy)
    completion, mask = batch
    expected = _logprobs(policy, prompts, completion, mask)

    merged_dir = export_policy(policy, tokenizer, tmp_path / "merged", merge=True)
    merged = load_causal_lm(str(merged_dir))
    assert not isinstance(merged, PeftModel) and (merged_dir / "tokenizer_config.json").exists()
    torch.testing.assert_close(_logprobs(merged, prompts, completion, mask), expected, atol=1e-5, rtol=0)
    assert isinstance(policy, PeftModel) and any("lora_" in n for n, _ in policy.named_parameters())

    adapter_dir = export_policy(policy, None, tmp_path / "adapter", merge=False)
    assert (adapter_dir / "adapter_config.json").exists()
    reloaded = PeftModel.from_pretrained(base, adapter_dir)
    torch.testing.assert_close(_logprobs(reloaded, prompts, completion, mask), expected, atol=1e-6, rtol=0)
