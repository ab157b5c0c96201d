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
from bump_pl.models.rollout import Rollouts
from bump_pl.rl.selected_log_softmax import selected_log_softmax


class TokenLogprobs(NamedTuple):
    """Per-token log-probs of given tokens and, for the logs, the entropy of each predicted distribution.

    Attributes:
        logps: ``[N, T]`` float32 ``log p(token)`` (differentiable when the logits are).
        entropy: ``[N, T]`` float32 detached ``H(p)`` of the temperature-scaled distribution, or
            None when not asked for.
    """

    logps: Tensor
    entropy: Tensor | None


def token_logprobs(logits: Tensor, tokens: Tensor, temperature: float = 1.0, chunk_rows: int | None = None) -> Tensor:
    """``log_softmax(logits / temperature)`` at ``tokens`` (:func:`~bump_pl.rl.selected_log_softmax.selected_log_softmax`).

    Args:
        logits: ``[N, T, V]`` (or ``[N, V]`` with ``tokens`` ``[N]``).
        tokens: ``[N, T]`` long.
        temperature: > 0.
        chunk_rows: token positions per chunk (default: 8 MB of float32 logits on CPU, see
            :data:`~bump_pl.rl.selected_log_softmax.CHUNK_BYTES`).

    Returns:
        ``[N, T]`` float32 log-probs (``[N]`` for 2-D input).
    """
    return _token_logprobs(logits, tokens, temperature, chunk_rows, with_entropy=False).logps


def token_logprobs_entropy(logits: Tensor, tokens: Tensor, temperature: float = 1.0, chunk_rows: int | None = None) -> TokenLogprobs:
    """:func:`token_logprobs` plus the detached entropy ``-sum_v p_v log p_v`` of each position."""
    return _token_logprobs(logits, tokens, temperature, chunk_rows, with_entropy=True)


def _token_logprobs(logits: Tensor, tokens: Tensor, temperature: float, chunk_rows: int | None, *, with_entropy: bool) -> TokenLogprobs:
    logps, entropy = selected_log_softmax(
        logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1), temperature, with_entropy=with_entropy, chunk_rows=chunk_rows
    )
    return TokenLogprobs(logps.view(tokens.shape), entropy.view(tokens.shape) if entropy is not None else None)


def completion_logprobs(model: PreTrainedModel, rollouts: Rollouts, *, share_prompt: bool = True) -> Tensor:
    """Log-prob of every completion token of ``rollouts`` given its prompt and the tokens before it.

    Args:
        rollouts: the prompts ``[U, P]``, completions ``[U*G, T]`` (row ``r = u*G + g`` follows
            prompt ``u``) and the sampling temperature.
        share_prompt: encode each prompt once (fast) or run ``prompt + completion`` per row (naive).

    Returns:
        ``[U*G, T]`` float32 log-probs, 0 at masked positions; differentiable.
    """
    return _completion_logprobs(model, rollouts, share_prompt, with_entropy=False).logps


def completion_logprobs_entropy(model: PreTrainedModel, rollouts: Rollouts, *, share_prompt: bool = True) -> TokenLogprobs:
    """:func:`completion_logprobs` plus the policy's detached token entropy ``[U*G, T]`` (0 at masked positions)."""
    return _completion_logprobs(model, rollouts, share_prompt, with_entropy=True)


def _completion_logprobs(model: PreTrainedModel, rollouts: Rollouts, share_prompt: bool, *, with_entropy: bool) -> TokenLogprobs:
    prompt_ids, prompt_mask = rollouts.prompt_ids, rollouts.prompt_mask
    completion_ids, completion_mask = rollouts.completion_ids, rollouts.completion_mask
    temperature = rollouts.temperature
    rows = rollouts.prompt_of_row()
    if share_prompt:
        prefix = encode_prefix(model, prompt_ids, prompt_mask)
        parts = [
            _token_logprobs(prefix.last_logits.index_select(0, rows)[:, None], completion_ids[:, :1], temperature, None, with_entropy=with_entropy)
        ]
        if completion_ids.shape[1] > 1:
            # position t of the continuation predicts token t + 1; the last position predicts nothing
            logits = forward_continuation(model, prefix, rows, completion_ids[:, :-1], completion_mask[:, :-1])
            parts.append(_token_logprobs(logits, completion_ids[:, 1:], temperature, None, with_entropy=with_entropy))
        out = TokenLogprobs(
            torch.cat([part.logps for part in parts], dim=1),
            torch.cat([part.entropy for part in parts], dim=1) if with_entropy else None,
        )
    else:
        ids = torch.cat([prompt_ids.index_select(0, rows), completion_ids], dim=1)
        mask = torch.cat([prompt_mask.index_select(0, rows), completion_mask], dim=1)
        width = completion_ids.shape[1]
        logits = forward_full(model, ids, mask, logits_to_keep=width + 1)[:, :-1]
        out = _token_logprobs(logits, completion_ids, temperature, None, with_entropy=with_entropy)
    weights = completion_mask.to(out.logps.dtype)
    return TokenLogprobs(out.logps * weights, out.entropy * weights if with_entropy else None)
