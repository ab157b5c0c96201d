"""Shared-prompt rollouts give exactly the tokens of plain ``generate`` on repeated prompts."""

import pytest
import torch

from bump_pl.models.rollout import SamplingSettings, generate_rollouts, stop_token_ids
from bump_pl.models.tiny import tiny_tokenizer

G = 4


def _both(model, tokenizer, prompts, settings, seed=0):
    ids, mask = prompts
    torch.manual_seed(seed)
    shared = generate_rollouts(model, tokenizer, ids, mask, group_size=G, settings=settings, share_prompt=True)
    torch.manual_seed(seed)
    naive = generate_rollouts(model, tokenizer, ids, mask, group_size=G, settings=settings, share_prompt=False)
    return shared, naive


@pytest.mark.parametrize(
    "settings",
    [
        SamplingSettings(max_new_tokens=16, greedy=True),
        SamplingSettings(max_new_tokens=16, temperature=1.0),
        SamplingSettings(max_new_tokens=16, temperature=0.7, top_k=20, top_p=0.9),
    ],
    ids=["greedy", "sample", "sample-topk-topp"],
)
def test_shared_prompt_rollouts_equal_naive_generate(tiny_llama, tokenizer, prompts, settings):
    shared, naive = _both(tiny_llama, tokenizer, prompts, settings)
    assert torch.equal(shared.completion_ids, naive.completion_ids)
    assert torch.equal(shared.completion_mask, naive.completion_mask)
    assert torch.equal(shared.truncated, naive.truncated)
    assert shared.texts == naive.texts
    assert shared.completion_ids.shape[0] == 3 * G


def test_rollout_layout_masks_stop_tokens_and_truncation(tiny_llama, tokenizer, prompts):
    torch.manual_seed(1)
    out = generate_rollouts(
        tiny_llama, tokenizer, *prompts, group_size=G, settings=SamplingSettings(max_new_tokens=16)
    )
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    assert out.truncated.any() and (~out.truncated).any(), "fixture should give both stopped and truncated rows"
    for row, mask, truncated, text in zip(out.completion_ids, out.completion_mask, out.truncated, out.texts):
        n = int(mask.sum())
        assert mask[:n].all() and not mask[n:].any()  # 1s then 0s
        assert (row[n:] == pad).all()
        assert bool(truncated) == (eos not in row[:n].tolist())
        if not truncated:
            assert row[n - 1] == eos and eos not in row[: n - 1].tolist()
        assert text == tokenizer.decode(row[:n].tolist(), skip_special_tokens=True).strip()


def test_greedy_samples_of_a_group_are_identical_and_match_the_unpadded_prompt(tiny_llama, tokenizer, prompts):
    ids, mask = prompts
    settings = SamplingSettings(max_new_tokens=10, greedy=True)
    out = generate_rollouts(tiny_llama, tokenizer, ids, mask, group_size=G, settings=settings)
    grouped = out.completion_ids.view(3, G, -1)
    assert (grouped == grouped[:, :1]).all()
    alone = ids[1][mask[1].bool()].unsqueeze(0)  # the shortest prompt, without its left padding
    single = generate_rollouts(tiny_llama, tokenizer, alone, torch.ones_like(alone), group_size=1, settings=settings)
    n = int(single.completion_mask.sum())
    assert torch.equal(single.completion_ids[0, :n], grouped[1, 0, :n])


def test_dropout_is_off_while_sampling_and_train_mode_is_restored(tiny_llama, tokenizer, prompts):
    for layer in tiny_llama.model.layers:
        layer.self_attn.attention_dropout = 0.5
    settings = SamplingSettings(max_new_tokens=8, greedy=True)
    reference = generate_rollouts(tiny_llama.eval(), tokenizer, *prompts, group_size=2, settings=settings)
    tiny_llama.train()
    again = generate_rollouts(tiny_llama, tokenizer, *prompts, group_size=2, settings=settings)
    assert tiny_llama.training
    assert torch.equal(reference.completion_ids, again.completion_ids)
    assert not any(p.grad is not None for p in tiny_llama.parameters())


def test_stop_tokens_include_a_chat_end_of_turn_token():
    tokenizer = tiny_tokenizer()
    assert stop_token_ids(tokenizer) == [1]
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_end|>"]})
    assert stop_token_ids(tokenizer) == [1, tokenizer.convert_tokens_to_ids("<|im_end|>")]


def test_right_padded_prompts_are_rejected(tiny_llama, tokenizer):
    tokenizer.padding_side = "right"
    batch = tokenizer(["long prompt here", "x"], return_tensors="pt", padding=True)
    with pytest.raises(ValueError, match="left-padded"):
        generate_rollouts(
            tiny_llama, tokenizer, batch.input_ids, batch.attention_mask, group_size=2, settings=SamplingSettings(4)
        )


def test_bad_sampling_settings_are_rejected():
    with pytest.raises(ValueError, match="temperature"):
        SamplingSettings(temperature=0.0)
    with pytest.raises(ValueError, match="top_p"):
        SamplingSettings(top_p=1.5)
