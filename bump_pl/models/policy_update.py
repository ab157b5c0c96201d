"""One GRPO update of the policy on a batch of rollouts, named data in, named results out.

The training step hands over a :class:`RolloutBatch` (what was sampled, what it was worth, what
the sampling and reference policies thought of it) and :func:`policy_update` backpropagates the
GRPO loss of it: in one forward and backward, or, past ``budget_tokens``, through the
memory-bounded :func:`~bump_pl.models.chunked_backward.backward_completion_logprobs`. Both paths
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
from bump_pl.models.chunked_backward import BackwardResult, backward_completion_logprobs
from bump_pl.models.logprobs import completion_logprobs, completion_logprobs_entropy
from bump_pl.models.policy import ReferencePolicy
from bump_pl.utils import eval_mode


@dataclass(frozen=True)
class RolloutBatch:
    """``U`` prompts with ``G`` sampled completions each, scored and ready for the update.

    Attributes:
        prompt_ids: ``[U, P]`` left-padded prompt tokens.
        prompt_mask: ``[U, P]`` 0/1.
        completion_ids: ``[U*G, T]`` right-padded completions, row ``r = u*G + g``.
        completion_mask: ``[U*G, T]`` 0/1, real completion tokens.
        advantages: ``[U*G]`` group-relative advantages.
        old_logps: ``[U*G, T]`` log-probs under the sampling policy; None when every update is
            on-policy (then the update's own detached log-probs stand in).
        ref_logps: ``[U*G, T]`` reference-policy log-probs; None without a KL term.
        keep: ``[U*G]`` bool, rollouts that take part in the loss; None keeps all.
        group_size: ``G``.
    """

    prompt_ids: Tensor
    prompt_mask: Tensor
    completion_ids: Tensor
    completion_mask: Tensor
    advantages: Tensor
    old_logps: Tensor | None
    ref_logps: Tensor | None
    keep: Tensor | None
    group_size: int

    @property
    def num_users(self) -> int:
        return self.prompt_ids.shape[0]

    def mini_batches(self, count: int) -> list[RolloutBatch]:
        """The rollouts split by users into ``count`` contiguous, near-equal mini-batches."""
        if not 1 <= count <= self.num_users:
            raise ValueError(f"model.grpo.steps_per_generation={count} needs 1..{self.num_users} (users per batch)")
        bounds = [round(i * self.num_users / count) for i in range(count + 1)]
        return [self.users(first, stop) for first, stop in zip(bounds[:-1], bounds[1:])]

    def users(self, first: int, stop: int) -> RolloutBatch:
        """The rollouts of users ``first .. stop - 1`` only (a mini-batch)."""
        rows = slice(first * self.group_size, stop * self.group_size)
        pick = lambda t: None if t is None else t[rows]  # noqa: E731
        return replace(
            self,
            prompt_ids=self.prompt_ids[first:stop],
            prompt_mask=self.prompt_mask[first:stop],
            completion_ids=self.completion_ids[rows],
            completion_mask=self.completion_mask[rows],
            advantages=self.advantages[rows],
            old_logps=pick(self.old_logps),
            ref_logps=pick(self.ref_logps),
            keep=pick(self.keep),
        )


@torch.no_grad()
def score_rollouts(
    policy: PreTrainedModel,
    reference: ReferencePolicy,
    prompt_ids: Tensor,
    prompt_mask: Tensor,
    completion_ids: Tensor,
    completion_mask: Tensor,
    *,
    advantages: Tensor,
    keep: Tensor | None,
    group_size: int,
    temperature: float,
    need_old: bool,
) -> RolloutBatch:
    """A :class:`RolloutBatch` with the sampling policy's log-probs (when ``need_old``: the batch
    feeds more than one optimizer step) and the reference's (when it is enabled).

    Old log-probs are taken now, before any step, in eval mode: the mode the rollouts were sampled in.
    """
    args = (prompt_ids, prompt_mask, completion_ids, completion_mask)
    old = None
    if need_old:
        with eval_mode(policy):
            old = completion_logprobs(policy, *args, group_size=group_size, temperature=temperature)
    ref = reference.logprobs(*args, group_size=group_size, temperature=temperature) if reference.enabled else None
    return RolloutBatch(*args, advantages=advantages, old_logps=old, ref_logps=ref, keep=keep, group_size=group_size)


@dataclass(frozen=True)
class GRPOObjective:
    """The GRPO loss of a :class:`RolloutBatch` as a row loss: ``objective(rows, logps)`` is the
    share of rows ``rows`` (``[n]``) with log-probs ``logps`` (``[n, T]``) of the whole loss."""

    batch: RolloutBatch
    settings: GRPOSettings
    max_completion_length: int
    tokens_all_ranks: Tensor | None = None
    world_size: int = 1

    def old_logps(self, rows: Tensor, logps: Tensor) -> Tensor:
        """``[N, T]`` old log-probs; on-policy, the given rows' own detached log-probs."""
        if self.batch.old_logps is not None:
            return self.batch.old_logps
        return torch.zeros_like(self.batch.completion_mask, dtype=logps.dtype).index_copy(0, rows, logps.detach())

    def __call__(self, rows: Tensor, logps: Tensor) -> Tensor:
        s, b = self.settings, self.batch
        return grpo_loss(
            logps,
            self.old_logps(rows, logps),
            b.advantages,
            b.completion_mask,
            rows=rows,
            ref_logps=b.ref_logps,
            beta=s.beta,
            epsilon_low=s.epsilon_low,
            epsilon_high=s.epsilon_high,
            loss_type=s.loss_type,
            max_completion_length=self.max_completion_length,
            keep=b.keep,
            importance_sampling_level=s.importance_sampling_level,
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


def tokens_all_ranks(batch: RolloutBatch) -> tuple[Tensor, int]:
    """Kept completion tokens summed over every rank (``dapo``'s normaliser), and the number of ranks."""
    kept = batch.completion_mask.bool() if batch.keep is None else batch.completion_mask.bool() & batch.keep[:, None]
    count = kept.sum().float()
    if not (dist.is_available() and dist.is_initialized()):
        return count, 1
    dist.all_reduce(count)
    return count, dist.get_world_size()


def policy_update(
    policy: PreTrainedModel,
    batch: RolloutBatch,
    settings: GRPOSettings,
    *,
    temperature: float,
    max_completion_length: int,
    budget_tokens: int,
    backward=Tensor.backward,
) -> UpdateResult:
    """Backpropagate the GRPO loss of ``batch`` into ``policy``'s gradients (no optimizer step).

    Args:
        temperature: the sampling temperature (log-probs of ``logits / temperature``).
        max_completion_length: ``dr_grpo``'s constant length (the sampling budget).
        budget_tokens: tokens forwarded with gradients at once; 0 (or a batch that fits) runs one
            forward and backward over everything.
        backward: how to backpropagate a 0-dim tensor.
    """
    count, world = tokens_all_ranks(batch) if settings.loss_type == "dapo" else (None, 1)
    objective = GRPOObjective(batch, settings, max_completion_length, count, world)
    args = (policy, batch.prompt_ids, batch.prompt_mask, batch.completion_ids, batch.completion_mask)
    if budget_tokens == 0 or batch.prompt_ids.numel() + batch.completion_ids.numel() <= budget_tokens:
        out = completion_logprobs_entropy(*args, group_size=batch.group_size, temperature=temperature)
        loss = objective(torch.arange(batch.completion_ids.shape[0], device=batch.completion_ids.device), out.logps)
        backward(loss)
        result = BackwardResult(out.logps.detach(), out.entropy, loss.detach())
    else:
        result = backward_completion_logprobs(
            *args, group_size=batch.group_size, row_loss=objective, temperature=temperature,
            budget_tokens=budget_tokens, backward=backward,
        )
    old = batch.old_logps if batch.old_logps is not None else result.logps
    stats = grpo_stats(
        result.logps, old, batch.advantages, batch.completion_mask, ref_logps=batch.ref_logps,
        epsilon_low=settings.epsilon_low, epsilon_high=settings.epsilon_high, keep=batch.keep,
        importance_sampling_level=settings.importance_sampling_level,
    )
    real = batch.completion_mask.bool()
    return UpdateResult(result.loss, stats, result.entropy[real].mean() if real.any() else result.entropy.sum())
