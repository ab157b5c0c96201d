"""Shared-prefix forwards equal the naive full-sequence forward (the basis of every speed-up)."""

import torch

from bump_pl.models.prefix import (
    additive_mask,
    encode_prefix,
    forward_continuation,
    forward_full,
    position_ids_from_mask,
)
from bump_pl.models.tiny import tiny_random_llama
from bump_pl.token_padding import pad_token_ids


def _left_pad(seqs: list[list[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    return pad_token_ids(seqs, pad, "left")


def _right_pad(seqs: list[list[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    return pad_token_ids(seqs, pad, "right")


def test_position_ids_skip_left_padding_and_continue_after_offset():
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert position_ids_from_mask(mask)[:, 2:].tolist() == [[0, 1], [2, 3]]
    assert position_ids_from_mask(mask, offset=torch.tensor([5, 0]))[0, 2:].tolist() == [5, 6]


def test_shared_prefix_logits_equal_naive_for_right_and_left_padded_continuations():
    model = tiny_random_llama(seed=1).eval()
    gen = torch.Generator().manual_seed(0)
    prefixes = [torch.randint(3, 300, (n,), generator=gen).tolist() for n in (7, 12)]
    conts = [torch.randint(3, 300, (n,), generator=gen).tolist() for n in (3, 5, 1, 4)]
    rows = torch.tensor([0, 0, 1, 1])  # two continuations per prefix
    p_ids, p_mask = _left_pad(prefixes)
    with torch.no_grad():
        prefix = encode_prefix(model, p_ids, p_mask)
        for pad in (_right_pad, _left_pad):
            c_ids, c_mask = pad(conts)
            shared = forward_continuation(model, prefix, rows, c_ids, c_mask)
            for n, (r, cont) in enumerate(zip(rows.tolist(), conts)):
                full = torch.tensor([prefixes[r] + cont])
                naive = forward_full(model, full, torch.ones_like(full))[0]
                real = c_mask[n].bool()
                torch.testing.assert_close(shared[n][real], naive[len(prefixes[r]) :], atol=1e-5, rtol=1e-5)
                torch.testing.assert_close(prefix.last_logits[r], naive[len(prefixes[r]) - 1], atol=1e-5, rtol=1e-5)


def test_prefix_cache_is_reusable_and_gradients_flow_through_it():
    model = tiny_random_llama(seed=2)
    ids, mask = _left_pad([[5, 6, 7, 8], [9, 10]])
    prefix = encode_prefix(model, ids, mask)
    cont_ids, cont_mask = _right_pad([[11, 12], [13]])
    rows = torch.tensor([0, 1])
    first = forward_continuation(model, prefix, rows, cont_ids, cont_mask)
    second = forward_continuation(model, prefix, rows, cont_ids, cont_mask)
    torch.testing.assert_close(first, second)  # the prefix cache was not mutated
    first.sum().backward()
    emb = model.get_input_embeddings().weight.grad
    assert emb[5].abs().sum() > 0  # prefix tokens received gradient through the shared cache


def test_additive_mask_is_zero_where_allowed_and_the_dtype_minimum_elsewhere():
    out = additive_mask(torch.tensor([[False, True, True]]), torch.bfloat16)
    assert out.dtype == torch.bfloat16
    assert out.flatten().tolist() == [torch.finfo(torch.bfloat16).min, 0.0, 0.0]
