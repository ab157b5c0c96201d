"""Pack many short continuations of one shared prefix into one row with a block attention mask.

The cross judge scores every candidate against every query. Instead of one padded row per
(query, candidate) pair, each holding a copy of its query's KV cache, a packed row holds several
candidates end to end after the query's cached prefix::

    keys:    [ prefix (P, left-padded) | cand 0 | cand 1 | ... | pad ]
    queries:                           [ cand 0 | cand 1 | ... | pad ]

A candidate token sees the prefix's real tokens and the earlier tokens of its own candidate only;
its position id continues the prefix as if the candidate were alone. So each candidate's last
hidden state equals the one of the unpacked pair, without per-pair KV copies or per-pair padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from bump_pl.models.prefix import additive_mask


def check_pair_sizes(judge: str, max_length: int, batch_size: int, max_pairs_per_chunk: int, pack_tokens: int) -> None:
    """Refuse a pair judge's sizes in one line naming ``judge``: lengths, batches and chunks ``>= 1``,
    ``pack_tokens >= 0`` (0: sized from free memory)."""
    if pack_tokens < 0 or min(max_length, batch_size, max_pairs_per_chunk) < 1:
        raise ValueError(
            f"{judge}: max_length, batch_size and max_pairs_per_chunk must be >= 1 and pack_tokens >= 0"
            f" (0: sized from free memory), got {max_length}, {batch_size}, {max_pairs_per_chunk}, {pack_tokens}"
        )


def plan_packs(lengths: list[int], max_tokens: int, max_items: int) -> list[list[int]]:
    """Group candidate indices into packs of at most ``max_tokens`` tokens and ``max_items`` items.

    First-fit over the candidates sorted longest first; a candidate longer than ``max_tokens``
    gets a pack of its own. Every index appears in exactly one pack.
    """
    if max_tokens < 1 or max_items < 1:
        raise ValueError(f"packing.py: max_tokens and max_items must be >= 1, got {max_tokens}, {max_items}")
    packs: list[list[int]] = []
    used: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        size = max(1, lengths[index])
        slot = next((p for p, pack in enumerate(packs) if len(pack) < max_items and used[p] + size <= max_tokens), None)
        if slot is None:
            packs.append([index])
            used.append(size)
        else:
            packs[slot].append(index)
            used[slot] += size
    return packs


def segment_ids(lengths: list[int], width: int, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """``(segment [W], local [W])``: which candidate each packed slot holds (-1: padding) and its index in it."""
    segment = torch.full((width,), -1, dtype=torch.long)
    local = torch.zeros(width, dtype=torch.long)
    start = 0
    for k, length in enumerate(lengths):
        segment[start : start + length] = k
        local[start : start + length] = torch.arange(length)
        start += length
    return segment.to(device), local.to(device)


def packed_attention_mask(prefix_mask: Tensor, segment: Tensor, dtype: torch.dtype) -> Tensor:
    """Additive mask ``[B, 1, W, P + W]`` for ``B`` prefixes (``prefix_mask`` ``[B, P]``) and their packed rows.

    ``segment`` is ``[W]`` (every row packs the same candidates) or ``[B, W]`` (each row its own).
    A slot attends to the prefix's real tokens and causally within its own candidate; padding
    slots attend to themselves only (so no softmax row is empty).
    """
    width = segment.shape[-1]
    segment = segment.expand(prefix_mask.shape[0], width)
    slots = torch.arange(width, device=segment.device)
    real = segment >= 0  # [B, W]
    own = (segment[:, :, None] == segment[:, None, :]) & (slots[None, None, :] <= slots[None, :, None]) & real[:, :, None]
    own = own | torch.eye(width, dtype=torch.bool, device=segment.device)
    sees_prefix = prefix_mask.bool()[:, None, :] & real[:, :, None]  # [B, W, P]
    allowed = torch.cat([sees_prefix, own], dim=-1)
    return additive_mask(allowed, dtype)[:, None]


@dataclass
class PackedRows:
    """The hidden states of ``B`` packed rows, each after its own cached prefix.

    Attributes:
        hidden: ``[B, W, H]`` last hidden states of the packed slots.
        starts: per row, the slot where each of its candidates begins (``starts[b][k]``).
        lengths: per row, each candidate's token count (``lengths[b][k]``).
    """

    hidden: Tensor
    starts: list[list[int]]
    lengths: list[list[int]]


def forward_row_packs(model, cache, prefix_mask: Tensor, row_packs: list[list[list[int]]], pad_id: int) -> PackedRows:
    """Run row ``b``'s candidates ``row_packs[b]`` (token id lists) packed end to end after cached prefix ``b``.

    ``cache`` holds ``B`` left-padded prefixes (``prefix_mask`` ``[B, P]``); it grows by the packed
    row during the forward and is cut back to ``P`` after it, so it serves the next pack. Every
    candidate sees its own prefix and its own earlier tokens only (:func:`packed_attention_mask`),
    at the positions it would have alone after the prefix.
    """
    device = prefix_mask.device
    lengths = [[len(ids) for ids in pack] for pack in row_packs]
    width = max(1, max(sum(row) for row in lengths))
    per_row = [segment_ids(row, width, device) for row in lengths]
    segment, local = torch.stack([s for s, _ in per_row]), torch.stack([l for _, l in per_row])
    input_ids = torch.full((len(row_packs), width), pad_id, dtype=torch.long)
    for b, pack in enumerate(row_packs):
        tokens = [token for ids in pack for token in ids]
        input_ids[b, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
    out = model.get_decoder()(
        input_ids=input_ids.to(device),
        attention_mask=packed_attention_mask(prefix_mask, segment, model.dtype),
        position_ids=prefix_mask.sum(-1, keepdim=True) + local,
        cache=cache,
        use_cache=True,
    )
    cache.crop(-width)
    starts = [[sum(row[:k]) for k in range(len(row))] for row in lengths]
    return PackedRows(hidden=out.last_hidden_state, starts=starts, lengths=lengths)
