"""Per-token log-probabilities of sampled completions, each prompt run once per group.

Training needs ``log p(completion token | prompt, previous tokens)`` with gradients. The prompt
is the long part and it is shared by the G completions of a group, so the shared path encodes
each prompt once (with gradients: LoRA changes prompt activations too) and continues it from
its expanded KV cache; the naive path runs ``prompt + completion`` G times. Both give the same
values and the same gradients (tested).

Log-probs use ``logits / temperature``: the distribution the rollouts were sampled from (before
top-k / top-p truncation, as in common GRPO practice). The ``*_entropy`` variants also return
that distribution's entropy per token, which the training step logs (``train/entropy``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from transformers import PreTrainedModel

from bump_pl.models.prefix import encode_prefix, forward_continuation, forward_full


class TokenLogprobs(NamedTuple):
    """Per-token log-probs of given tokens and, for the logs, the entropy of each predicted distribution.

    Attributes:
        logps: ``[N, T]`` float32 ``log p(token)`` (differentiable when the logits are).
        entropy: ``[N, T]`` float32 detached ``H(p)`` of the temperature-scaled distribution, or
            None when not asked for.
    """

    logps: Tensor
    entropy: Tensor | None


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
    return _token_logprobs(logits, tokens, temperature, chunk_rows, with_entropy=False).logps


def token_logprobs_entropy(logits: Tensor, tokens: Tensor, temperature: float = 1.0, chunk_rows: int = 8) -> TokenLogprobs:
    """:func:`token_logprobs` plus the detached entropy ``-sum_v p_v log p_v`` of each position."""
    return _token_logprobs(logits, tokens, temperature, chunk_rows, with_entropy=True)


def _token_logprobs(logits: Tensor, tokens: Tensor, temperature: float, chunk_rows: int, *, with_entropy: bool) -> TokenLogprobs:
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    pieces, entropies = [], []
    for start in range(0, logits.shape[0], chunk_rows):
        scaled = logits[start : start + chunk_rows].float() / temperature
        normaliser = scaled.logsumexp(-1)
        picked = scaled.gather(-1, tokens[start : start + chunk_rows].unsqueeze(-1)).squeeze(-1)
        pieces.append(picked - normaliser)
        if with_entropy:
            with torch.no_grad():
                log_p = scaled - normaliser.unsqueeze(-1)
                entropies.append(-(log_p.exp() * log_p).sum(-1))
    return TokenLogprobs(torch.cat(pieces, dim=0), torch.cat(entropies, dim=0) if with_entropy else None)


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
    args = (model, prompt_ids, prompt_mask, completion_ids, completion_mask)
    return _completion_logprobs(*args, group_size, temperature, share_prompt, with_entropy=False).logps


def completion_logprobs_entropy(
    model: PreTrainedModel,
    prompt_ids: Tensor,
    prompt_mask: Tensor,
    completion_ids: Tensor,
    completion_mask: Tensor,
    *,
    group_size: int,
    temperature: float = 1.0,
    share_prompt: bool = True,
) -> TokenLogprobs:
    """:func:`completion_logprobs` plus the policy's detached token entropy ``[U*G, T]`` (0 at masked positions)."""
    args = (model, prompt_ids, prompt_mask, completion_ids, completion_mask)
    return _completion_logprobs(*args, group_size, temperature, share_prompt, with_entropy=True)


def _completion_logprobs(
    model: PreTrainedModel,
    prompt_ids: Tensor,
    prompt_mask: Tensor,
    completion_ids: Tensor,
    completion_mask: Tensor,
    group_size: int,
    temperature: float,
    share_prompt: bool,
    *,
    with_entropy: bool,
) -> TokenLogprobs:
    n_rows = prompt_ids.shape[0] * group_size
    if completion_ids.shape[0] != n_rows or completion_ids.shape != completion_mask.shape:
        raise ValueError(
            f"completion_ids {tuple(completion_ids.shape)} / completion_mask {tuple(completion_mask.shape)} "
            f"must be [U*G, T] = [{n_rows}, T] for {prompt_ids.shape[0]} prompts and group_size {group_size}"
        )
    rows = torch.arange(prompt_ids.shape[0], device=prompt_ids.device).repeat_interleave(group_size)
    if share_prompt:
        prefix = encode_prefix(model, prompt_ids, prompt_mask)
        parts = [
            _token_logprobs(prefix.last_logits.index_select(0, rows)[:, None], completion_ids[:, :1], temperature, 8, with_entropy=with_entropy)
        ]
        if completion_ids.shape[1] > 1:
            # position t of the continuation predicts token t + 1; the last position predicts nothing
            logits = forward_continuation(model, prefix, rows, completion_ids[:, :-1], completion_mask[:, :-1])
            parts.append(_token_logprobs(logits, completion_ids[:, 1:], temperature, 8, with_entropy=with_entropy))
        out = TokenLogprobs(
            torch.cat([part.logps for part in parts], dim=1),
            torch.cat([part.entropy for part in parts], dim=1) if with_entropy else None,
        )
    else:
        ids = torch.cat([prompt_ids.index_select(0, rows), completion_ids], dim=1)
        mask = torch.cat([prompt_mask.index_select(0, rows), completion_mask], dim=1)
        width = completion_ids.shape[1]
        logits = forward_full(model, ids, mask, logits_to_keep=width + 1)[:, :-1]
        out = _token_logprobs(logits, completion_ids, temperature, 8, with_entropy=with_entropy)
    weights = completion_mask.to(out.logps.dtype)
    return TokenLogprobs(out.logps * weights, out.entropy * weights if with_entropy else None)
