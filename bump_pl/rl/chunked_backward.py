"""Backpropagate a loss of completion log-probs with bounded activation memory.

Autograd keeps every activation of a forward pass until its backward. For BUMP's shape (long
prompts, ``G`` completions each) that is ``U*P + U*G*T`` tokens at once, about 2.5-3.5 MB per
token for a 135M-parameter model in float32: gigabytes per step. Generic trainers bound this with
activation checkpointing, which drops the layer caches that sharing a prompt's KV needs. This module
bounds it while keeping the sharing, in three phases:

1. **Context, no grad.** Every prompt but its last token (the *context*, ``[U, P-1]``) runs
   forward in blocks of at most ``budget`` tokens (whole prompts while they fit, else one prompt
   in segments), filling a KV cache; the RNG state before each block is kept so that dropout can
   be replayed in phase 3.
2. **Continuations, with grad, in row chunks.** The cache's keys and values become leaf tensors.
   Each chunk of completion rows (``~budget / T`` rows) is run from its prompts' cached context:
   its input is the prompt's last token followed by the completion, so every completion token is
   predicted inside the chunk. The chunk's loss goes backward at once; gradients reach the
   weights and, through attention, the context's keys and values (``.grad`` of the leaves).
3. **Context, with grad, last segment first.** Each block is run again (same dropout) from the
   leaves of the segments before it, and ``sum(new_kv * kv.grad)`` goes backward: by the chain
   rule this sends the continuations' (and later segments') gradient through the segment, into
   the weights and into the earlier segments' ``.grad``, which are complete by the time their
   own turn comes.

The result equals one forward and backward over everything (tested to float error), for one
extra forward of the context and a peak of about ``budget`` tokens of activations. The loss
must be **row-separable**: the total loss is the sum of the per-chunk losses, as GRPO's is once
its normalisers are fixed (see :func:`bump_pl.core.grpo.grpo_loss`).

With ``prompt_gradients=False`` phase 3 is skipped: the context's keys and values are constants, so
the weights learn only through the completion tokens' own computation (and the last prompt token's,
which phase 2 runs). The log-probs and the loss are unchanged; the gradient is an approximation that
saves the context's forward and backward with grad (about a third of the update's compute at
MovieLens' shape, where prompts are 2/3 of the tokens). Rollouts that kept the prompts' KV cache as
they were sampled (:attr:`~bump_pl.models.rollout.Rollouts.prompt_kv`) skip phase 1 too: the
constants are then the sampling policy's keys and values of the context, which equal phase 1's when
the weights have not moved since and dropout is off (tested; up to float rounding when the rollouts
ran with the LoRA adapters folded in, :mod:`bump_pl.models.merged_lora`), and the update saves
another forward of every prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch import Tensor
from transformers import DynamicCache, PreTrainedModel

from bump_pl.models.prefix import position_ids_from_mask
from bump_pl.models.rollout import Rollouts
from bump_pl.rl.logprobs import token_logprobs_entropy

RowLoss = Callable[[Tensor, Tensor], Tensor]
"""``row_loss(rows, logps)``: the 0-dim loss contribution of completion rows ``rows`` ``[n]`` with
log-probs ``logps`` ``[n, T]`` (differentiable, 0 at masked positions); the contributions of all
rows add up to the loss (e.g. :class:`bump_pl.rl.policy_update.GRPOObjective`)."""


class BackwardResult(NamedTuple):
    """What one backward over all completion rows computed along the way (all detached).

    Attributes:
        logps: ``[N, T]`` float32 log-probs, 0 at masked positions, as used for the gradients.
        entropy: ``[N, T]`` float32 token entropy of the policy, 0 at masked positions.
        loss: 0-dim, the sum of the row losses (the whole loss).
    """

    logps: Tensor
    entropy: Tensor
    loss: Tensor


def _rng_state(device: torch.device) -> tuple[Tensor, Tensor | None]:
    """CPU (and this CUDA device's) RNG state, to replay dropout."""
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


@contextmanager
def _replayed_rng(state: tuple[Tensor, Tensor | None], device: torch.device) -> Iterator[None]:
    """Inside the block the RNG is at ``state``; outside it is untouched."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.set_rng_state(state[0])
        if state[1] is not None:
            torch.cuda.set_rng_state(state[1], device)
        yield


def _context_blocks(num_prompts: int, length: int, budget: int) -> list[tuple[int, int, int, int]]:
    """``(first_prompt, end_prompt, start, stop)`` blocks of at most ``budget`` context tokens.

    Whole prompts are grouped while they fit (``budget // length`` at a time); a prompt longer
    than the budget runs alone, in segments of ``budget`` tokens. A block's segments are in order.
    """
    per_block = max(1, budget // length)
    blocks = []
    for first in range(0, num_prompts, per_block):
        end = min(first + per_block, num_prompts)
        size = max(1, budget // (end - first))
        blocks += [(first, end, start, min(start + size, length)) for start in range(0, length, size)]
    return blocks


def _context_forward(
    model: PreTrainedModel, context: tuple[Tensor, Tensor, Tensor], block: tuple[int, int, int, int], cache: DynamicCache
):
    """One block of the context (``ids, mask, positions``, each ``[U, P-1]``) through ``model``, appending to ``cache``."""
    first, end, start, stop = block
    ids, mask, positions = context
    return model(
        input_ids=ids[first:end, start:stop],
        attention_mask=mask[first:end, :stop],
        position_ids=positions[first:end, start:stop],
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
    )


def _context_cache(
    model: PreTrainedModel, context: tuple[Tensor, Tensor, Tensor], blocks: list[tuple[int, int, int, int]], as_leaves: bool
) -> tuple[list[tuple[Tensor, Tensor | None]], list[tuple[Tensor, Tensor]]]:
    """Phase 1: the RNG state before each block, and per layer the context's ``(keys, values)``
    ``[U, kv_heads, P-1, head_dim]`` (leaves that collect a gradient when ``as_leaves``)."""
    device, config = context[0].device, model.config
    rng_states, caches = [], {}
    with torch.no_grad():
        for block in blocks:
            rng_states.append(_rng_state(device))
            _context_forward(model, context, block, caches.setdefault(block[0], DynamicCache(config=config)))
    per_layer = zip(*(cache.layers for cache in caches.values()))  # each layer of every prompt block
    leaves = [
        tuple(torch.cat([getattr(b, kind) for b in blocks_of_layer]).requires_grad_(as_leaves) for kind in ("keys", "values"))
        for blocks_of_layer in per_layer
    ]
    return rng_states, leaves


def backward_completion_logprobs(
    model: PreTrainedModel,
    rollouts: Rollouts,
    *,
    row_loss: RowLoss,
    budget_tokens: int = 256,
    backward: Callable[[Tensor], None] = Tensor.backward,
    prompt_gradients: bool = True,
) -> BackwardResult:
    """Run ``backward(row_loss(rows, logps))`` over all completion rows of ``rollouts``, ``budget_tokens`` tokens at a time.

    Args:
        rollouts: the prompts ``[U, P]`` (left-padded, each with at least 2 real tokens), the
            completions ``[U*G, T]`` and the sampling temperature (log-probs of ``logits / temperature``).
        row_loss: the row-separable loss (see :data:`RowLoss`).
        budget_tokens: tokens forwarded with gradients at once (per context block: prompts times
            segment length, see :func:`_context_blocks`; per chunk: rows times ``T``, at least one row).
        backward: how to backpropagate a 0-dim tensor (``LightningModule.manual_backward`` in training).
        prompt_gradients: backpropagate into the context's keys and values (phase 3); False treats
            them as constants (see the module docstring), read from ``rollouts.prompt_kv`` when
            the rollouts kept it (then phase 1 does not run).

    Returns:
        :class:`BackwardResult`: the log-probs, entropies and loss of the rows, detached.
    """
    prompt_ids, prompt_mask = rollouts.prompt_ids, rollouts.prompt_mask
    completion_ids, completion_mask = rollouts.completion_ids, rollouts.completion_mask
    num_prompts, width = rollouts.num_users, completion_ids.shape[1]
    if bool((prompt_mask[:, :-1].sum(-1) < 1).any()) or bool((prompt_mask[:, -1] == 0).any()):
        raise ValueError("backward_completion_logprobs: prompts must be left-padded with at least 2 real tokens each")
    if budget_tokens < 1:
        raise ValueError(f"budget_tokens must be >= 1, got {budget_tokens}")
    device, config = prompt_ids.device, model.config
    context_mask = prompt_mask[:, :-1]
    context = (prompt_ids[:, :-1], context_mask, position_ids_from_mask(context_mask))
    blocks = _context_blocks(num_prompts, context_mask.shape[1], budget_tokens)

    # Phase 1: the context's KV cache, block by block, without a graph (or the one sampling kept).
    if prompt_gradients or rollouts.prompt_kv is None:
        rng_states, leaves = _context_cache(model, context, blocks, prompt_gradients)
    else:
        rng_states, leaves = [], [(keys[:, :, :-1], values[:, :, :-1]) for keys, values in rollouts.prompt_kv]

    # Phase 2: continuations (last prompt token + completion) in row chunks, each backpropagated.
    prompt_of_row = rollouts.prompt_of_row()
    inputs = torch.cat([prompt_ids[prompt_of_row, -1:], completion_ids[:, :-1]], dim=1)  # [N, T]
    input_mask = torch.cat([torch.ones_like(completion_mask[:, :1]), completion_mask[:, :-1]], dim=1)
    context_lengths = context_mask.sum(-1)
    logps = torch.zeros(completion_ids.shape, dtype=torch.float32, device=device)
    entropy, loss = torch.zeros_like(logps), torch.zeros((), device=device)
    rows_per_chunk = max(1, budget_tokens // width)
    for start in range(0, completion_ids.shape[0], rows_per_chunk):
        rows = torch.arange(start, min(start + rows_per_chunk, completion_ids.shape[0]), device=device)
        prompts = prompt_of_row[rows]
        mask = input_mask[rows]
        logits = model(
            input_ids=inputs[rows],
            attention_mask=torch.cat([context_mask[prompts], mask], dim=-1),
            position_ids=position_ids_from_mask(mask, offset=context_lengths[prompts]),
            cache=DynamicCache(ddp_cache_data=[(keys[prompts], values[prompts]) for keys, values in leaves], config=config),
            use_cache=True,
        ).logits
        weights = completion_mask[rows].to(torch.float32)
        chunk = token_logprobs_entropy(logits, completion_ids[rows], rollouts.temperature)
        chunk_loss = row_loss(rows, chunk.logps * weights)
        backward(chunk_loss)
        logps[rows], entropy[rows] = chunk.logps.detach() * weights, chunk.entropy * weights
        loss += chunk_loss.detach()
        del logits, chunk, chunk_loss

    # Phase 3: the context again, each prompt block's last segment first, pulling the gradient through.
    for block, rng_state in zip(reversed(blocks), reversed(rng_states)) if prompt_gradients else ():
        first, end, start, stop = block
        past = DynamicCache(ddp_cache_data=[(k[first:end, :, :start], v[first:end, :, :start]) for k, v in leaves], config=config)
        with _replayed_rng(rng_state, device):
            out = _context_forward(model, context, block, past)
        # The last layer's query/output/MLP weights shape no key or value, so they get no gradient
        # here; the zero-weighted logits term lets them take part (DDP expects every parameter in
        # every backward) without changing any gradient.
        surrogate = 0.0 * out.logits.float().sum() + sum(
            (new[:, :, start:stop] * leaf.grad[first:end, :, start:stop].clone()).sum()
            for layer, (keys, values) in zip(out.cache.layers, leaves)
            for new, leaf in ((layer.keys, keys), (layer.values, values))
            if leaf.grad is not None
        )
        backward(surrogate)
        del out, surrogate
    return BackwardResult(logps, entropy, loss)
