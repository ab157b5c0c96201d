"""Padding ragged token-id lists into one batch, and the pad id to use (collate, judges, downstream)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor


def pad_token_ids(
    seqs: list[list[int]], pad_id: int, side: Literal["left", "right"], device: torch.device | str = "cpu"
) -> tuple[Tensor, Tensor]:
    """Stack ``N`` id lists into ``input_ids`` ``[N, T]`` and ``attention_mask`` ``[N, T]`` (long, 1 = real).

    ``T`` is the longest list (at least 1, so an all-empty batch still has a shape); ``side`` says
    where the ``pad_id`` filler goes.
    """
    width = max(1, max((len(s) for s in seqs), default=0))
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for n, seq in enumerate(seqs):
        if not seq:
            continue
        span = slice(width - len(seq), width) if side == "left" else slice(0, len(seq))
        ids[n, span] = torch.tensor(seq, dtype=torch.long)
        mask[n, span] = 1
    return ids.to(device), mask.to(device)


def pad_id_of(tokenizer: Any) -> int:
    """The tokenizer's pad id, else its eos id, else 0 (padded positions are masked out anyway)."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0
