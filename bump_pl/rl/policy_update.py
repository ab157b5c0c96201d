"""One GRPO update of the policy on a batch of rollouts, named data in, named results out.

The training step hands over :class:`~bump_pl.models.rollout.Rollouts` scored by :func:`score_rollouts`
(what was sampled, what it was worth, what the sampling and reference policies thought of it) and
:func:`policy_update` backpropagates the GRPO loss of them: in one forward and backward, or, past
``budget_tokens``, through the memory-bounded :func:`~bump_pl.rl.chunked_backward.backward_completion_logprobs`. Both paths
use the same :class:`GRPOObjective`, the loss of a set of rows, so they compute the same gradient
(tested). No Lightning here: ``backward`` is whatever backpropagates a 0-dim tensor
(``LightningModule.manual_backward`` in training).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import torch
import torch.distributed as dist
from torch import Tensor
from transformers import PreTrainedModel

from bump_pl.core.grpo import GRPOSettings, GRPOStats, grpo_loss, grpo_stats
from bump_pl.models.modes import eval_mode
from bump_pl.models.rollout import Rollouts
from bump_pl.rl.chunked_backward import BackwardResult, backward_completion_logprobs
from bump_pl.rl.logprobs import completion_logprobs, completion_logprobs_entropy
from bump_pl.rl.reference import ReferencePolicy


@torch.no_grad()
def score_rollouts(
    policy: PreTrainedModel,
    reference: ReferencePolicy,
    rollouts: Rollouts,
    *,
    advantages: Tensor,
    keep: Tensor | None,
    need_old: bool,
) -> Rollouts:
    """``rollouts`` with their ``[U*G]`` advantages and ``keep``, the sampling policy's log-probs
    (when ``need_old``: the batch feeds more than one optimizer step) and the reference's (when
    it is enabled).

    Old log-probs are taken now, before any step, in eval mode: the mode the rollouts were sampled in.
    """
    old = None
    if need_old:
        with eval_mode(policy):
            old = completion_logprobs(policy, rollouts)
    ref = reference.logprobs(rollouts) if reference.enabled else None
    return replace(rollouts, advantages=advantages, old_logps=old, ref_logps=ref, keep=keep)


@dataclass(frozen=True)
class GRPOObjective:
    """The GRPO loss of scored :class:`~bump_pl.models.rollout.Rollouts` as a row loss:
    ``objective(rows, logps)`` is the share of rows ``rows`` (``[n]``) with log-probs ``logps``
    (``[n, T]``) of the whole loss."""

    batch: Rollouts
    settings: GRPOSettings
    max_new_tokens: int
    tokens_all_ranks: Tensor | None = None
    world_size: int = 1

    def old_logps(self, rows: Tensor, logps: Tensor) -> Tensor:
        """``[N, T]`` old log-probs; on-policy, the given rows' own detached log-probs."""
        if self.batch.old_logps is not None:
            return self.batch.old_logps
        return torch.zeros_like(self.batch.completion_mask, dtype=logps.dtype).index_copy(0, rows, logps.detach())

    def __call__(self, rows: Tensor, logps: Tensor) -> Tensor:
        b = self.batch
        return grpo_loss(
            logps,
            self.old_logps(rows, logps),
            b.advantages,
            b.completion_mask,
            self.settings,
            rows=rows,
            ref_logps=b.ref_logps,
            keep=b.keep,
            max_new_tokens=self.max_new_tokens,
            tokens_all_ranks=self.tokens_all_ranks,
            world_size=self.world_size,
        )


class UpdateResult(NamedTuple):
    """What one update computed, detached, for the logs.

    Attributes:
        loss: 0-dim GRPO loss.
        stats: clip fractions, KL and ratio (:class:`~bump_pl.core.grpo.GRPOStats`).
        entropy: 0-dim mean token entropy of the policy over real completion tokens.
    """

    loss: Tensor
    stats: GRPOStats
    entropy: Tensor


def tokens_all_ranks(batch: Rollouts, steps_per_generation: int = 1) -> tuple[Tensor, int]:
    """``dapo``'s normaliser and the number of ranks: the kept completion tokens of ``batch`` (the
    generation batch) summed over every rank, divided by ``steps_per_generation``, the mini-batches
    it is split into. As TRL: every mini-batch's tokens weigh ``world / normaliser``, the same for
    all (mini-batches of 48 and 8 tokens: 1/28 each, not 1/48 and 1/8)."""
    kept = batch.completion_mask.bool() if batch.keep is None else batch.completion_mask.bool() & batch.keep[:, None]
    count = kept.sum().float()
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(count)
        return count / steps_per_generation, dist.get_world_size()
    return count / steps_per_generation, 1


def policy_update(
    policy: PreTrainedModel,
    batch: Rollouts,
    settings: GRPOSettings,
    *,
    max_new_tokens: int,
    budget_tokens: int,
    backward=Tensor.backward,
    prompt_gradients: bool = True,
    dapo_normaliser: tuple[Tensor, int] | None = None,
) -> UpdateResult:
    """Backpropagate the GRPO loss of the scored rollouts ``batch`` into ``policy``'s gradients (no optimizer step).

    Args:
        batch: rollouts with their advantages (:func:`score_rollouts`); log-probs use their temperature.
        max_new_tokens: the sampling budget, ``dr_grpo``'s constant length.
        budget_tokens: tokens forwarded with gradients at once; 0 (or a batch that fits) runs one
            forward and backward over everything.
        backward: how to backpropagate a 0-dim tensor.
        prompt_gradients: False treats the prompts' keys and values as constants (an approximation
            that skips their backward; see :mod:`~bump_pl.rl.chunked_backward`), so it always
            takes the chunked path, in one chunk when ``budget_tokens`` is 0.
        dapo_normaliser: :func:`tokens_all_ranks` of the generation batch ``batch`` was split from;
            None: ``batch``'s own (one mini-batch per generation).
    """
    if batch.advantages is None:
        raise ValueError("policy_update: the rollouts have no advantages; score them first (score_rollouts)")
    if settings.loss_type == "dapo":
        count, world = tokens_all_ranks(batch) if dapo_normaliser is None else dapo_normaliser
    else:
        count, world = None, 1
    objective = GRPOObjective(batch, settings, max_new_tokens, count, world)
    total_tokens = batch.prompt_ids.numel() + batch.completion_ids.numel()
    if prompt_gradients and (budget_tokens == 0 or total_tokens <= budget_tokens):
        out = completion_logprobs_entropy(policy, batch)
        loss = objective(torch.arange(batch.completion_ids.shape[0], device=batch.completion_ids.device), out.logps)
        backward(loss)
        result = BackwardResult(out.logps.detach(), out.entropy, loss.detach())
    else:
        result = backward_completion_logprobs(
            policy, batch, row_loss=objective, budget_tokens=budget_tokens or total_tokens, backward=backward,
            prompt_gradients=prompt_gradients,
        )
    old = batch.old_logps if batch.old_logps is not None else result.logps
    stats = grpo_stats(result.logps, old, batch.advantages, batch.completion_mask, settings, ref_logps=batch.ref_logps, keep=batch.keep)
    real = batch.completion_mask.bool()
    return UpdateResult(result.loss, stats, result.entropy[real].mean() if real.any() else result.entropy.sum())
