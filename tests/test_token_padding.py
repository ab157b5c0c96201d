"""Padding ragged token-id lists, and the pad id fallback."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from bump_pl.token_padding import pad_id_of, pad_token_ids


@pytest.mark.parametrize(
    ("side", "ids", "mask"),
    [
        ("left", [[5, 6, 7], [0, 0, 8]], [[1, 1, 1], [0, 0, 1]]),
        ("right", [[5, 6, 7], [8, 0, 0]], [[1, 1, 1], [1, 0, 0]]),
    ],
)
def test_pad_token_ids(side: str, ids: list[list[int]], mask: list[list[int]]) -> None:
    got_ids, got_mask = pad_token_ids([[5, 6, 7], [8]], 0, side)
    assert torch.equal(got_ids, torch.tensor(ids)) and torch.equal(got_mask, torch.tensor(mask))
    assert got_ids.dtype == got_mask.dtype == torch.long


def test_all_empty_rows_still_have_a_shape() -> None:
    ids, mask = pad_token_ids([[], []], 9, "left")
    assert ids.tolist() == [[9], [9]] and mask.tolist() == [[0], [0]]


@pytest.mark.parametrize(("pad", "eos", "expected"), [(3, 7, 3), (None, 7, 7), (None, None, 0)])
def test_pad_id_falls_back_to_eos_then_zero(pad: int | None, eos: int | None, expected: int) -> None:
    assert pad_id_of(SimpleNamespace(pad_token_id=pad, eos_token_id=eos)) == expected
