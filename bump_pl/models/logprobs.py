"""Per-token log-probabilities of sampled completions, each prompt run once per group.

Training needs ``log p(completion token | prompt, previous tokens)`` with gradients. The prompt
is the long part and it is shared by the G completions of a group, so the shared path encodes
each prompt once (with gradients: LoRA changes prompt activations too) and continues it from
its expanded KV cache; the naive path runs ``prompt + completion`` G times. Both give the same
values and the same gradients (tested).

Log-probs use ``logits / temperature``: the distribution the rollouts were sampled from (before
top-k / top-p truncation, as in common GRPO practice).
"""

from __future__ import annotations

import torch
from torch import Tensor
from transformers import PreTrainedModel

from bump_pl.models.prefix import encode_prefix, forward_continuation, forward_full


def token_logprobs(logits: Tensor, tokens: Tensor, temperature: float = 1.0, chunk_rows: int = 8) -> Tensor:
    """``log_softmax(logits / temperature)`` at ``tokens``, ``chunk_rows`` rows at a time.

    Args:
        logits: ``[N, T, V]`` (or ``[N, V]`` with ``tokens`` ``[N]``).
        tokens: ``[N, T]`` long.
        temperature: > 0.
        chunk_rows: rows per chunk; only one chunk's float32 ``[chunk, T, V]`` temporary exists.

    Returns:
        ``[N, T]`` float32 log-probs (``[N]`` for 2-D input).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    pieces = []
    for start in range(0, logits.shape[0], chunk_rows):
        scaled = logits[start : start + chunk_rows].float() / temperature
        picked = scaled.gather(-1, tokens[start : start + chunk_rows].unsqueeze(-1)).squeeze(-1)
        pieces.append(picked - scaled.logsumexp(-1))
    return torch.cat(pieces, dim=0)


def completion_logprobs(
    model: PreTrainedModel,
    prompt_ids: Tensor,
    prompt_mask: Tensor,
    completion_ids: Tensor,
    completion_mask: Tensor,
    *,
    group_size: int,
    temperature: float = 1.0,
    share_prompt: bool = True,
) -> Tensor:
    """Log-prob of every completion token given its prompt and the tokens before it.

    Args:
        prompt_ids: ``[U, P]`` left-padded prompts.
        prompt_mask: ``[U, P]`` 0/1.
        completion_ids: ``[U*G, T]`` right-padded completions, row ``r = u*G + g`` follows prompt ``u``.
        completion_mask: ``[U*G, T]`` 0/1.
        group_size: ``G``.
        temperature: the sampling temperature.
        share_prompt: encode each prompt once (fast) or run ``prompt + completion`` per row (naive).

    Returns:
        ``[U*G, T]`` float32 log-probs, 0 at masked positions; differentiable.
    """
    n_rows = prompt_ids.shape[0] * group_size
    if completion_ids.shape[0] != n_rows or completion_ids.shape != completion_mask.shape:
        raise ValueError(
            f"completion_ids {tuple(completion_ids.shape)} / completion_mask {tuple(completion_mask.shape)} "
            f"must be [U*G, T] = [{n_rows}, T] for {prompt_ids.shape[0]} prompts and group_size {group_size}"
        )
    rows = torch.arange(prompt_ids.shape[0], device=prompt_ids.device).repeat_interleave(group_size)
    if share_prompt:
        prefix = encode_prefix(model, prompt_ids, prompt_mask)
        first = token_logprobs(prefix.last_logits.index_select(0, rows), completion_ids[:, 0], temperature)
        if completion_ids.shape[1] == 1:
            logprobs = first.unsqueeze(1)
        else:
            # position t of the continuation predicts token t + 1; the last position predicts nothing
            logits = forward_continuation(model, prefix, rows, completion_ids[:, :-1], completion_mask[:, :-1])
            rest = token_logprobs(logits, completion_ids[:, 1:], temperature)
            logprobs = torch.cat([first.unsqueeze(1), rest], dim=1)
    else:
        ids = torch.cat([prompt_ids.index_select(0, rows), completion_ids], dim=1)
        mask = torch.cat([prompt_mask.index_select(0, rows), completion_mask], dim=1)
        width = completion_ids.shape[1]
        logits = forward_full(model, ids, mask, logits_to_keep=width + 1)[:, :-1]
        logprobs = token_logprobs(logits, completion_ids, temperature)
    return logprobs * completion_mask.to(logprobs.dtype)
