"""The preallocated decode loop gives the logits of a full forward, and drops finished rows."""

import pytest
import torch

from bump_pl.models.decode import StaticDecoder, static_cache_from_prefix
from bump_pl.models.prefix import encode_prefix, forward_full
from bump_pl.models.rollout import SamplingSettings, generate_rollouts

G = 2


def test_decode_steps_equal_full_forward_and_rows_are_dropped_once_half_finished(tiny_llama, prompts):
    ids, mask = prompts
    steps, n = 5, ids.shape[0] * G
    rows = torch.arange(ids.shape[0]).repeat_interleave(G)
    torch.manual_seed(0)
    fed = torch.randint(3, 200, (n, steps))
    with torch.no_grad():
        prefix = encode_prefix(tiny_llama.eval(), ids, mask)
        cache = static_cache_from_prefix(prefix.cache, rows, tiny_llama.config, ids.shape[1] + steps)
        key_mask = torch.cat([mask.index_select(0, rows), torch.zeros(n, steps, dtype=mask.dtype)], dim=1)
        decoder = StaticDecoder(tiny_llama, cache, key_mask, ids.shape[1], cuda_graphs=False)
        positions = mask.index_select(0, rows).sum(1)
        sizes = []
        for step in range(steps):
            done = torch.arange(n) < step  # row r finishes after step r
            computed, logits = decoder.step(step, fed[:, step], positions + step, done)
            sizes.append(computed.shape[0])
            full_ids = torch.cat([ids.index_select(0, rows), fed[:, : step + 1]], dim=1)
            full_mask = torch.cat([mask.index_select(0, rows), torch.ones(n, step + 1, dtype=mask.dtype)], dim=1)
            reference = forward_full(tiny_llama, full_ids, full_mask, logits_to_keep=1)[:, -1]
            torch.testing.assert_close(logits, reference.index_select(0, computed), atol=1e-5, rtol=1e-5)
    assert sizes == [6, 6, 6, 3, 3]  # compacted once at most half was live (3 of 6), not at 2 of 3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sampled_rollouts_equal_generate_while_rows_finish_and_are_dropped(tiny_llama, tokenizer, prompts, seed):
    settings = SamplingSettings(max_new_tokens=24, temperature=0.8)
    torch.manual_seed(seed)
    shared = generate_rollouts(tiny_llama, tokenizer, *prompts, group_size=8, settings=settings)
    torch.manual_seed(seed)
    naive = generate_rollouts(tiny_llama, tokenizer, *prompts, group_size=8, settings=settings, share_prompt=False)
    assert (~shared.truncated).sum() > 12, "fixture should finish most rows early, so the batch gets compacted"
    assert torch.equal(shared.completion_ids, naive.completion_ids)
