"""ProfileGenerator: greedy profiles, and the same generator rebuilt from a checkpoint's hyperparameters and weights."""

from __future__ import annotations

from dataclasses import asdict
from types import SimpleNamespace

import pytest
import torch

from bump_pl.data.prompts import ProfilePrompt
from bump_pl.models.generator import ProfileGenerator
from bump_pl.models.lora import LoraSettings
from bump_pl.models.rollout import SamplingSettings

LORA = LoraSettings(rank=4, alpha=8.0, dropout=0.0)
SAMPLING = SamplingSettings(max_new_tokens=6, temperature=0.7)
PROMPT = ProfilePrompt(system="s", instruction="i")


@pytest.fixture
def trained() -> ProfileGenerator:
    generator = ProfileGenerator("tiny-random-llama", lora=LORA, profile_prompt=PROMPT, sampling=SAMPLING)
    with torch.no_grad():  # a trained-looking adapter: its profiles differ from the base model's
        for name, p in generator.policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
    return generator


def _checkpoint(generator: ProfileGenerator) -> dict:
    """What ``bump fit`` saves: the settings as fields, only the adapter's weights under ``policy.``."""
    weights = {f"policy.{n}": p.detach().clone() for n, p in generator.policy.named_parameters() if p.requires_grad}
    hparams = {"model": "tiny-random-llama", "dtype": "float32", "lora": asdict(LORA), "trust_remote_code": False,
               "group_size": 2, "profile_prompt": asdict(PROMPT), "sampling": asdict(SAMPLING)}
    return {"hyper_parameters": hparams, "state_dict": weights}


def test_from_checkpoint_rebuilds_settings_weights_and_profiles(trained, prompts):
    batch = SimpleNamespace(input_ids=prompts[0], attention_mask=prompts[1])
    rebuilt = ProfileGenerator.from_checkpoint(_checkpoint(trained))
    assert (rebuilt.lora, rebuilt.profile_prompt, rebuilt.sampling) == (LORA, PROMPT, SAMPLING)
    for (name, p), (_, q) in zip(trained.policy.named_parameters(), rebuilt.policy.named_parameters()):
        assert torch.equal(p, q), name
    profiles = rebuilt.profiles(batch)
    assert profiles == trained.profiles(batch) and len(profiles) == 3
    base = ProfileGenerator("tiny-random-llama", lora=LORA, sampling=SAMPLING).profiles(batch)
    assert profiles != base  # the adapter was restored, not left at its fresh (no-op) start


def test_rollouts_sample_group_size_completions_per_user(trained, prompts):
    torch.manual_seed(0)
    rollouts = trained.rollouts(SimpleNamespace(input_ids=prompts[0], attention_mask=prompts[1]), 2)
    assert rollouts.group_size == 2 and rollouts.temperature == 0.7 and len(rollouts.texts) == 6
    assert rollouts.completion_ids.shape[1] <= SAMPLING.max_new_tokens


def test_checkpoints_without_policy_weights_or_with_foreign_ones_are_refused(trained):
    checkpoint = _checkpoint(trained)
    with pytest.raises(ValueError, match="no policy"):
        ProfileGenerator.from_checkpoint({**checkpoint, "state_dict": {}})
    foreign = {**checkpoint["state_dict"], "policy.not.a.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match="do not fit the model"):
        ProfileGenerator.from_checkpoint({**checkpoint, "state_dict": foreign})


def test_untrained_from_checkpoint_is_the_generator_before_training(trained, prompts):
    batch = SimpleNamespace(input_ids=prompts[0], attention_mask=prompts[1])
    untrained = ProfileGenerator.from_checkpoint(_checkpoint(trained), trained=False)
    assert (untrained.lora, untrained.profile_prompt, untrained.sampling) == (LORA, PROMPT, SAMPLING)
    lora_b = [p for name, p in untrained.policy.named_parameters() if "lora_B" in name]
    assert lora_b and all(torch.all(p == 0) for p in lora_b)  # a fresh adapter: exactly the base model
    fresh = ProfileGenerator("tiny-random-llama", lora=LORA, profile_prompt=PROMPT, sampling=SAMPLING)
    profiles = untrained.profiles(batch)
    assert profiles == fresh.profiles(batch) and len(profiles) == 3
    assert profiles != trained.profiles(batch)  # the checkpoint's (non-zero) adapter was left out


def test_untrained_full_fine_tuning_checkpoint_keeps_the_base_weights():
    tuned = ProfileGenerator("tiny-random-llama", lora=None, sampling=SAMPLING)
    with torch.no_grad():
        for p in tuned.policy.parameters():
            p.add_(1.0)
    checkpoint = {
        "hyper_parameters": {"model": "tiny-random-llama", "lora": None, "sampling": asdict(SAMPLING)},
        "state_dict": {f"policy.{n}": p.detach().clone() for n, p in tuned.policy.state_dict().items()},
    }
    base = ProfileGenerator("tiny-random-llama", lora=None, sampling=SAMPLING).policy.state_dict()
    for trained_flag, expected in ((False, base), (True, tuned.policy.state_dict())):
        restored = ProfileGenerator.from_checkpoint(checkpoint, trained=trained_flag).policy.state_dict()
        assert restored.keys() == expected.keys() and all(torch.equal(restored[k], expected[k]) for k in expected)


def test_profiles_begin_with_the_response_start_the_policy_continued_untrained_on_it(tokenizer):
    from bump_pl.data.prompts import build_prompt, encode_prompt

    started = ProfilePrompt(system="s", instruction="i", response_start="Rating:")
    generator = ProfileGenerator("tiny-random-llama", lora=LORA, profile_prompt=started, sampling=SAMPLING)
    rows = [encode_prompt(build_prompt(items, tokenizer, started), tokenizer) for items in (["Alien: 5"], ["Up: 2", "Ran: 4"])]
    width = max(map(len, rows))  # left-padded, as the data module pads
    ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    batch = SimpleNamespace(input_ids=ids, attention_mask=mask)
    start_ids = tokenizer("Rating:", add_special_tokens=False)["input_ids"]
    assert all(r[-len(start_ids):] == start_ids for r in rows)  # the start is prompt, never completion
    torch.manual_seed(0)
    rollouts = generator.rollouts(batch, 2)
    completions = [tokenizer.decode(row[: int(n)].tolist(), skip_special_tokens=True).strip()
                   for row, n in zip(rollouts.completion_ids, rollouts.completion_mask.sum(1))]
    assert rollouts.texts == [f"Rating: {c}".rstrip() for c in completions]
    assert all(profile.startswith("Rating:") for profile in generator.profiles(batch))
