"""Packing candidates after a shared prefix: pack plans and the block mask, checked by hand."""

import pytest
import torch

from bump_pl.judges import CrossJudge, LikelihoodJudge
from bump_pl.judges.cross import CPU_PACK_TOKENS, pack_tokens_for
from bump_pl.judges.packing import packed_attention_mask, plan_packs, segment_ids


def test_plan_packs_fills_first_fit_longest_first_within_both_limits():
    packs = plan_packs([5, 2, 7, 1, 3], max_tokens=8, max_items=2)
    assert packs == [[2, 3], [0, 4], [1]]  # 7+1, 5+3, 2
    assert sorted(i for pack in packs for i in pack) == [0, 1, 2, 3, 4]
    assert plan_packs([10, 2], max_tokens=4, max_items=8) == [[0], [1]]  # too long: alone
    with pytest.raises(ValueError, match="packing.py"):
        plan_packs([1], max_tokens=0, max_items=1)


def test_block_mask_sees_real_prefix_tokens_and_its_own_candidate_causally():
    segment, local = segment_ids([2, 1], width=4)
    assert segment.tolist() == [0, 0, 1, -1] and local.tolist() == [0, 1, 0, 0]
    prefix_mask = torch.tensor([[0, 1]])  # one left pad
    allowed = packed_attention_mask(prefix_mask, segment, torch.float32)[0, 0] == 0
    expected = [
        # pad, prefix | c0 c0 c1 pad
        [0, 1, 1, 0, 0, 0],  # c0 token 0
        [0, 1, 1, 1, 0, 0],  # c0 token 1
        [0, 1, 0, 0, 1, 0],  # c1 token 0: not c0
        [0, 0, 0, 0, 0, 1],  # padding slot: itself only
    ]
    assert allowed.int().tolist() == expected


def test_pack_width_does_not_change_scores(llama, tokenizer):
    profiles = ["enjoys slow drama", "p", "likes action films"]
    items = ["Titanic", "a long review of a documentary", "x", "Die Hard"]
    naive = CrossJudge(llama, tokenizer=tokenizer, share_prefix=False).score(profiles, items, "profile_to_item")
    for pack_tokens, pairs in [(1, 64), (40, 64), (10_000, 64), (10_000, 3)]:
        judge = CrossJudge(llama, tokenizer=tokenizer, batch_size=2, pack_tokens=pack_tokens, max_pairs_per_chunk=pairs)
        torch.testing.assert_close(judge.score(profiles, items, "profile_to_item"), naive, atol=1e-4, rtol=0)


def test_pack_width_is_small_on_cpu(llama):
    assert pack_tokens_for(llama, rows=8, device=torch.device("cpu")) == CPU_PACK_TOKENS


@pytest.mark.parametrize("judge", [CrossJudge, LikelihoodJudge])
@pytest.mark.parametrize("sizes", [{"pack_tokens": -1}, {"batch_size": 0}, {"max_pairs_per_chunk": 0}, {"max_length": 0}])
def test_bad_pair_sizes_are_one_line_errors_naming_the_judge(llama, tokenizer, judge, sizes):
    with pytest.raises(ValueError, match=rf"^{judge.__name__}: max_length, batch_size and max_pairs_per_chunk must be >= 1"
                                         rf" and pack_tokens >= 0 \(0: sized from free memory\), got [-0-9, ]+$"):
        judge(llama, tokenizer=tokenizer, **sizes)


def test_empty_query_or_candidate_lists_give_empty_score_matrices(llama, tokenizer):
    judge = CrossJudge(llama, tokenizer=tokenizer)
    assert judge.score([], ["a"], "profile_to_item").shape == (0, 1)
    assert judge.score(["a"], [], "profile_to_item").shape == (1, 0)
