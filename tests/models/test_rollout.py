"""Shared-prompt rollouts give exactly the tokens of plain ``generate`` on repeated prompts."""

from dataclasses import replace

import pytest
import torch

from bump_pl.models.prefix import encode_prefix
from bump_pl.models.rollout import SamplingSettings, _processors, generate_rollouts, stop_token_ids
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
        SamplingSettings(max_new_tokens=16, temperature=0.7, min_p=0.2),
        SamplingSettings(max_new_tokens=16, repetition_penalty=1.3),
        SamplingSettings(max_new_tokens=16, greedy=True, repetition_penalty=1.5),
        SamplingSettings(max_new_tokens=16, min_new_tokens=6),
        SamplingSettings(max_new_tokens=16, greedy=True, min_new_tokens=16),
    ],
    ids=["greedy", "sample", "sample-topk-topp", "min-p", "repetition", "greedy-repetition", "min-new", "greedy-forced-length"],
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


def test_kept_prompt_kv_is_the_prefill_of_the_prompts_and_changes_no_token(tiny_llama, tokenizer, prompts):
    settings = SamplingSettings(max_new_tokens=10)
    torch.manual_seed(0)
    plain = generate_rollouts(tiny_llama, tokenizer, *prompts, group_size=G, settings=settings)
    torch.manual_seed(0)
    kept = generate_rollouts(tiny_llama, tokenizer, *prompts, group_size=G, settings=settings, keep_prompt_kv=True)
    assert plain.prompt_kv is None
    assert torch.equal(kept.completion_ids, plain.completion_ids)
    with torch.no_grad():  # an independent prefill of the same prompts
        layers = encode_prefix(tiny_llama, *prompts).cache.layers
    assert len(kept.prompt_kv) == len(layers) == tiny_llama.config.num_hidden_layers
    for (keys, values), layer in zip(kept.prompt_kv, layers):
        torch.testing.assert_close(keys, layer.keys, atol=1e-6, rtol=0)
        torch.testing.assert_close(values, layer.values, atol=1e-6, rtol=0)
    first, second = kept.mini_batches(2)  # users [0, 2) and [2, 3): each keeps its own prompts' rows
    assert torch.equal(first.prompt_kv[1][0], kept.prompt_kv[1][0][:2])
    assert torch.equal(second.prompt_kv[1][1], kept.prompt_kv[1][1][2:])


def test_a_prompt_kv_of_other_prompts_or_of_the_naive_path_is_refused(tiny_llama, tokenizer, prompts):
    kept = generate_rollouts(tiny_llama, tokenizer, *prompts, group_size=2, settings=SamplingSettings(4), keep_prompt_kv=True)
    with pytest.raises(ValueError, match="prompt_kv must be"):
        replace(kept, prompt_kv=tuple((keys[:2], values[:2]) for keys, values in kept.prompt_kv))
    with pytest.raises(ValueError, match="keep_prompt_kv needs share_prompt=True"):
        generate_rollouts(
            tiny_llama, tokenizer, *prompts, group_size=2, settings=SamplingSettings(4), share_prompt=False, keep_prompt_kv=True
        )


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
    with pytest.raises(ValueError, match="min_p"):
        SamplingSettings(min_p=-0.1)
    with pytest.raises(ValueError, match="repetition_penalty"):
        SamplingSettings(repetition_penalty=0.0)
    with pytest.raises(ValueError, match="min_new_tokens"):
        SamplingSettings(max_new_tokens=4, min_new_tokens=5)


def test_min_new_tokens_equal_to_the_budget_forces_every_completion_to_full_length(tiny_llama, tokenizer, prompts):
    free = generate_rollouts(tiny_llama, tokenizer, *prompts, group_size=G, settings=SamplingSettings(12, greedy=True))
    assert (~free.truncated).any(), "fixture should stop some rows early without min_new_tokens"
    forced = generate_rollouts(
        tiny_llama, tokenizer, *prompts, group_size=G, settings=SamplingSettings(12, greedy=True, min_new_tokens=12)
    )
    assert forced.completion_mask.sum(1).tolist() == [12] * 3 * G
    assert forced.truncated.all()


def test_min_p_keeps_exactly_the_tokens_with_probability_at_least_min_p_times_the_top_one():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.11, 0.09, 0.05]]))  # p_max 0.5: keep p >= 0.2 * 0.5 = 0.1
    settings = SamplingSettings(min_p=0.2)
    processors = _processors(settings, torch.ones(1, 1, dtype=torch.long), torch.tensor([4]))
    kept = processors(torch.zeros(1, 1, dtype=torch.long), logits).isfinite()
    assert kept.tolist() == [[True, True, True, False, False]]


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits_of_seen_tokens():
    logits = torch.tensor([[2.0, -1.0, 3.0, -4.0]])
    history = torch.tensor([[0, 1, 1]])  # tokens 0 and 1 were seen (once or twice: penalised once)
    processors = _processors(SamplingSettings(repetition_penalty=2.0, greedy=True), torch.ones(1, 2), torch.tensor([3]))
    assert processors(history, logits).tolist() == [[1.0, -2.0, 3.0, -4.0]]
