"""Group-relative advantages and the clipped GRPO loss, as pure tensor functions.

``N = U * G`` sequences (rollouts), ``G`` consecutive ones per group (user), ``T`` completion
tokens per sequence; ``mask`` marks real completion tokens.

- :func:`group_advantages`: ``A = r - mean(group)``, optionally divided by ``std + eps`` of
  the group or of the whole batch (Bessel-corrected std).
- :func:`zero_std_groups`: groups whose rewards do not spread carry no signal; the module logs
  their fraction and may drop them (DAPO's dynamic sampling) with ``keep`` in :func:`grpo_loss`.
- :func:`grpo_loss`: the PPO-style clipped surrogate per token, ``-min(ratio*A, clip(ratio,
  1-eps_low, 1+eps_high)*A)``, plus ``beta`` times the k3 KL estimate to a reference policy,
  weighted by :func:`loss_weights`: ``grpo`` (per-sequence token mean, then mean over
  sequences), ``bnpo`` (sum over all tokens / token count), ``dr_grpo`` (sum / (sequences *
  max_new_tokens)) or ``dapo`` (sum / (completion tokens of the generation batch on all ranks /
  ``steps_per_generation``), times the number of ranks since DDP averages gradients; TRL's). Dropped sequences (``keep`` False) contribute nothing; as
  in TRL they still count as sequences in ``grpo`` and ``dr_grpo`` (whose normaliser stays the
  batch's, so dropping never raises the others' weight), and their tokens do not count in
  ``bnpo``/``dapo``. The ratio is per token, or, with
  ``importance_sampling_level="sequence"`` (GSPO), ``exp(mean_t log ratio)`` of the sequence.
- :func:`rollout_keep`: which rollouts take part (zero-spread groups, truncated completions).
- :func:`grpo_stats`: the clip fractions, KL and ratio behind the loss, for the logs.

The loss is **row-separable**: a sum over rows of terms that depend only on that row's log-probs,
with weights fixed by ``mask`` and ``keep``. ``grpo_loss(..., rows=r)`` is the share of rows
``r``; the shares of disjoint row chunks add up to the whole loss, which is what the
memory-bounded update (:mod:`bump_pl.rl.chunked_backward`) relies on (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

AdvantageScale = Literal["group", "batch", "none"]
LossType = Literal["grpo", "bnpo", "dr_grpo", "dapo"]
ImportanceLevel = Literal["token", "sequence"]


def _grouped(rewards: Tensor, group_size: int) -> Tensor:
    """``[N]`` -> ``[N // G, G]``, checking that ``G >= 2`` divides ``N``."""
    if rewards.ndim != 1:
        raise ValueError(f"rewards must be 1-D [N], got shape {tuple(rewards.shape)}")
    if not isinstance(group_size, int) or group_size < 2 or rewards.numel() % group_size:
        raise ValueError(f"group_size must be an int >= 2 dividing N={rewards.numel()}, got {group_size!r}")
    return rewards.view(-1, group_size)


def group_advantages(
    rewards: Tensor,
    group_size: int,
    scale: AdvantageScale = "group",
    eps: float = 1e-4,
    batch_rewards: Tensor | None = None,
) -> Tensor:
    """Group-relative advantages.

    Args:
        rewards: ``[N]``, ``G`` consecutive rollouts per group.
        group_size: ``G >= 2``.
        scale: divide the centred rewards by ``std + eps`` of their ``group``, of the whole
            ``batch``, or not at all (``none``, Dr. GRPO).
        eps: added to the std so that zero-spread groups give 0 rather than NaN.
        batch_rewards: ``[M]``, the batch whose std ``scale="batch"`` divides by (default
            ``rewards``); under data parallelism every rank's rewards, ``[W*N]``, as TRL does.

    Returns:
        ``[N]`` advantages, ``A_i = r_i - mean(group(i))`` (scaled).
    """
    grouped = _grouped(rewards, group_size)
    centred = grouped - grouped.mean(dim=1, keepdim=True)  # [N // G, G]
    if scale == "group":
        centred = centred / (grouped.std(dim=1, keepdim=True) + eps)
    elif scale == "batch":
        centred = centred / ((rewards if batch_rewards is None else batch_rewards).std() + eps)
    elif scale != "none":
        raise ValueError(f"scale must be 'group', 'batch' or 'none', got {scale!r}")
    return centred.reshape(-1)


def zero_std_groups(rewards: Tensor, group_size: int, atol: float = 1e-6) -> Tensor:
    """``[N // G]`` bool: groups whose rewards all lie within ``atol`` of each other (no signal).

    ``atol`` absorbs batching noise: the same text scored at two batch positions can differ in
    the last float bits. Use ``zero_std_groups(...).repeat_interleave(G).logical_not()`` as
    ``keep`` in :func:`grpo_loss` to drop them.
    """
    grouped = _grouped(rewards, group_size)
    return (grouped.amax(dim=1) - grouped.amin(dim=1)) <= atol


@dataclass
class GRPOSettings:
    """The GRPO objective and how often one batch of rollouts is reused (a dataclass so that
    ``bump fit --help`` groups them as ``--model.grpo.*``).

    Attributes:
        beta: weight of the k3 KL to the reference policy (0 keeps no reference at all).
        epsilon_low: PPO clip below, ratio ``>= 1 - epsilon_low``.
        epsilon_high: PPO clip above, ratio ``<= 1 + epsilon_high`` (defaults to ``epsilon_low``).
        loss_type: ``grpo`` | ``bnpo`` | ``dr_grpo`` | ``dapo`` normalisation (see :func:`loss_weights`).
        importance_sampling_level: ``token`` ratios, or one ``sequence`` ratio per completion
            (GSPO: the geometric mean of its token ratios).
        advantage_scale: divide advantages by the ``group`` or ``batch`` std (``batch``: every rank's
            rewards, as TRL does), or ``none`` (Dr. GRPO).
        num_iterations: passes over one batch of rollouts (GRPO's mu).
        steps_per_generation: optimizer steps per pass, each on a mini-batch of the users (so a
            batch of rollouts feeds ``num_iterations * steps_per_generation`` optimizer steps).
        drop_zero_std_groups: leave users whose G rewards are all equal out of the loss (DAPO).
        mask_truncated_completions: leave completions that hit ``sampling.max_new_tokens`` out of the loss.
        disable_dropout: switch the policy's dropout off (LoRA's too), so the policy that trains
            is the policy that sampled (ratio 1 on a batch's first step). On by choice here; TRL's
            ``disable_dropout`` defaults to off (TRL 1.16).
    """

    beta: float = 0.0
    epsilon_low: float = 0.2
    epsilon_high: float | None = None
    loss_type: LossType = "grpo"
    importance_sampling_level: ImportanceLevel = "token"
    advantage_scale: AdvantageScale = "group"
    num_iterations: int = 1
    steps_per_generation: int = 1
    drop_zero_std_groups: bool = False
    mask_truncated_completions: bool = False
    disable_dropout: bool = True

    def __post_init__(self) -> None:
        if self.beta < 0:
            raise ValueError(f"model.grpo.beta must be >= 0, got {self.beta}")
        if not 0.0 <= self.epsilon_low < 1.0 or (self.epsilon_high is not None and self.epsilon_high < 0):
            raise ValueError(f"model.grpo: need 0 <= epsilon_low < 1 and epsilon_high >= 0, got {self.epsilon_low}, {self.epsilon_high}")
        if self.num_iterations < 1 or self.steps_per_generation < 1:
            raise ValueError(f"model.grpo.num_iterations and steps_per_generation must be >= 1, "
                             f"got {self.num_iterations}, {self.steps_per_generation}")

    @property
    def reuses_rollouts(self) -> bool:
        """More than one optimizer step per batch of rollouts: the steps need the sampling policy's log-probs."""
        return self.num_iterations * self.steps_per_generation > 1


@dataclass(frozen=True)
class GRPOStats:
    """Detached 0-dim diagnostics over kept, unmasked tokens.

    Attributes:
        clip_low: fraction with ``ratio < 1 - eps_low`` and ``A < 0`` (clipped from below).
        clip_high: fraction with ``ratio > 1 + eps_high`` and ``A > 0`` (clipped from above).
        clip_region: fraction with either.
        kl: mean k3 KL estimate to the reference (0 without ``ref_logps``).
        ratio: mean importance ratio ``exp(logps - old_logps)``.
    """

    clip_low: Tensor
    clip_high: Tensor
    clip_region: Tensor
    kl: Tensor
    ratio: Tensor


def _check_loss_inputs(old_logps: Tensor, advantages: Tensor, mask: Tensor, ref_logps: Tensor | None,
                       keep: Tensor | None) -> None:
    if old_logps.ndim != 2:
        raise ValueError(f"grpo_loss: old_logps must be [N, T], got shape {tuple(old_logps.shape)}")
    for name, other in (("mask", mask), ("ref_logps", ref_logps)):
        if other is not None and other.shape != old_logps.shape:
            raise ValueError(f"grpo_loss: {name} must match old_logps {tuple(old_logps.shape)}, got {tuple(other.shape)}")
    for name, vector in (("advantages", advantages), ("keep", keep)):
        if vector is not None and tuple(vector.shape) != (old_logps.shape[0],):
            raise ValueError(f"grpo_loss: {name} must be [N] = [{old_logps.shape[0]}], got {tuple(vector.shape)}")


def _token_mask(mask: Tensor, keep: Tensor | None) -> Tensor:
    """``[N, T]`` bool: real completion tokens of kept sequences."""
    token_mask = mask.bool()
    return token_mask & keep.bool()[:, None] if keep is not None else token_mask


def rollout_keep(flat_groups: Tensor, truncated: Tensor, settings: GRPOSettings) -> Tensor | None:
    """``[N]`` bool ``keep`` for :func:`grpo_loss`, or None when every rollout takes part.

    Args:
        flat_groups: ``[N // G]`` groups without reward spread (:func:`zero_std_groups`).
        truncated: ``[N]`` completions that ran out of tokens before a stop token.
        settings: ``drop_zero_std_groups`` and ``mask_truncated_completions`` say which to leave out.
    """
    keep = torch.ones_like(truncated, dtype=torch.bool)
    if settings.drop_zero_std_groups:
        keep &= ~flat_groups.repeat_interleave(truncated.shape[0] // flat_groups.shape[0])
    if settings.mask_truncated_completions:
        keep &= ~truncated.bool()
    return keep if settings.drop_zero_std_groups or settings.mask_truncated_completions else None


def loss_weights(
    mask: Tensor,
    keep: Tensor | None,
    loss_type: LossType,
    max_new_tokens: int | None = None,
    *,
    tokens_all_ranks: Tensor | float | None = None,
    world_size: int = 1,
) -> Tensor:
    """``[N, T]`` weight of each token's term in the loss (0 on padding and dropped sequences).

    ``grpo``: ``1 / (tokens of the sequence * N)``; ``bnpo``: ``1 / kept tokens``; ``dr_grpo``:
    ``1 / (N * max_new_tokens)`` (``T`` when None; TRL's ``max_completion_length``), a constant; ``dapo``:
    ``world_size / tokens_all_ranks``, the kept completion tokens of every rank (this rank's when
    None), of the whole generation batch divided by ``steps_per_generation`` when it is split into
    mini-batches (as TRL): once DDP averages the ranks' gradients, every token of the global batch
    weighs the same, in every mini-batch.
    They depend on ``mask``, ``keep`` and counts only, never on log-probs: this is what makes the
    loss row-separable. ``N`` counts every sequence of the batch, dropped ones too, as TRL's
    ``grpo`` (mean over the batch) and ``dr_grpo`` (``batch size * max_completion_length``, our ``max_new_tokens``) do.
    """
    token_mask = _token_mask(mask, keep)
    weights = token_mask.float()
    num_sequences = mask.shape[0]
    if loss_type == "grpo":
        return weights / (weights.sum(dim=1, keepdim=True).clamp_min(1.0) * num_sequences)
    if loss_type == "bnpo":
        return weights / weights.sum().clamp_min(1.0)
    if loss_type == "dr_grpo":
        length = mask.shape[1] if max_new_tokens is None else max_new_tokens
        return weights / (num_sequences * length)
    if loss_type == "dapo":
        total = weights.sum() if tokens_all_ranks is None else torch.as_tensor(tokens_all_ranks, dtype=weights.dtype)
        return weights * world_size / total.clamp_min(1.0)
    raise ValueError(f"grpo_loss: loss_type must be 'grpo', 'bnpo', 'dr_grpo' or 'dapo', got {loss_type!r}")


def _log_ratio(logps: Tensor, old_logps: Tensor, token_mask: Tensor, level: ImportanceLevel = "token") -> Tensor:
    """``log(pi / pi_old)``: ``[n, T]`` per token (0 on masked positions, where padding may hold
    -inf), or ``[n, 1]`` per sequence, the mean over its real tokens (GSPO)."""
    per_token = torch.where(token_mask, logps - old_logps, torch.zeros_like(logps))
    if level == "token":
        return per_token
    if level == "sequence":
        return per_token.sum(dim=1, keepdim=True) / token_mask.sum(dim=1, keepdim=True).clamp_min(1)
    raise ValueError(f"grpo_loss: importance_sampling_level must be 'token' or 'sequence', got {level!r}")


def _k3_kl(logps: Tensor, ref_logps: Tensor, token_mask: Tensor) -> Tensor:
    """``[n, T]`` ``exp(ref - logp) - (ref - logp) - 1``, 0 on masked positions."""
    delta = torch.where(token_mask, ref_logps - logps, torch.zeros_like(logps))
    return torch.exp(delta) - delta - 1.0


def grpo_loss(
    logps: Tensor,
    old_logps: Tensor,
    advantages: Tensor,
    mask: Tensor,
    settings: GRPOSettings,
    *,
    rows: Tensor | None = None,
    ref_logps: Tensor | None = None,
    keep: Tensor | None = None,
    max_new_tokens: int | None = None,
    tokens_all_ranks: Tensor | float | None = None,
    world_size: int = 1,
) -> Tensor:
    """Clipped GRPO surrogate loss (to minimise) with an optional k3 KL penalty.

    Args:
        logps: ``[N, T]`` per-token log-probs of the completions under the current policy (with
            grad); ``[n, T]`` for the sequences ``rows`` when those are given.
        old_logps: ``[N, T]`` the same under the policy that sampled them (no grad; on-policy:
            ``logps.detach()``).
        advantages: ``[N]`` per-sequence advantages.
        mask: ``[N, T]`` bool/0-1, real completion tokens. Masked positions may hold anything.
        settings: the objective: ``beta`` (weight of ``KL = exp(ref - logp) - (ref - logp) - 1``
            per token), the clip range ``[1 - epsilon_low, 1 + epsilon_high]`` of the ratio
            (``epsilon_high`` defaults to ``epsilon_low``), ``loss_type`` (see :func:`loss_weights`)
            and ``importance_sampling_level`` (``token`` or ``sequence``, GSPO).
        rows: ``[n]`` indices of the sequences ``logps`` holds: the result is their share of the
            whole loss (normalised as the whole batch is), and the shares of disjoint rows add up
            to the whole loss.
        ref_logps: ``[N, T]`` reference-policy log-probs; needed when ``beta > 0``.
        keep: ``[N]`` bool, sequences that take part (default all); dropped ones contribute
            nothing and are not counted.
        max_new_tokens: ``dr_grpo``'s constant length, the sampling budget; defaults to ``T``.
        tokens_all_ranks, world_size: ``dapo``'s normaliser (see :func:`loss_weights`).

    Returns:
        0-dim loss (0 with a graph when nothing is kept).
    """
    epsilon_low = settings.epsilon_low
    epsilon_high = epsilon_low if settings.epsilon_high is None else settings.epsilon_high
    _check_loss_inputs(old_logps, advantages, mask, ref_logps, keep)
    rows = torch.arange(old_logps.shape[0], device=old_logps.device) if rows is None else rows
    if tuple(logps.shape) != (rows.shape[0], old_logps.shape[1]):
        raise ValueError(f"grpo_loss: logps must be [len(rows), T] = [{rows.shape[0]}, {old_logps.shape[1]}], "
                         f"got {tuple(logps.shape)}")
    if settings.beta > 0 and ref_logps is None:
        raise ValueError("grpo_loss: beta > 0 needs ref_logps")
    if max_new_tokens is not None and max_new_tokens < logps.shape[1]:
        raise ValueError(f"grpo_loss: max_new_tokens={max_new_tokens} is shorter than the "
                         f"{logps.shape[1]} completion tokens given")
    weights = loss_weights(
        mask, keep, settings.loss_type, max_new_tokens, tokens_all_ranks=tokens_all_ranks, world_size=world_size
    )[rows]  # [n, T]
    token_mask = _token_mask(mask, keep)[rows]
    ratio = torch.exp(_log_ratio(logps, old_logps[rows], token_mask, settings.importance_sampling_level))  # [n, T] or [n, 1]
    adv = advantages[rows, None].to(logps.dtype)  # [n, 1]
    clipped = ratio.clamp(1.0 - epsilon_low, 1.0 + epsilon_high)
    per_token = -torch.minimum(ratio * adv, clipped * adv)  # [n, T]
    if settings.beta > 0:
        per_token = per_token + settings.beta * _k3_kl(logps, ref_logps[rows], token_mask)
    return (per_token * weights).sum()


@torch.no_grad()
def grpo_stats(
    logps: Tensor,
    old_logps: Tensor,
    advantages: Tensor,
    mask: Tensor,
    settings: GRPOSettings,
    *,
    ref_logps: Tensor | None = None,
    keep: Tensor | None = None,
) -> GRPOStats:
    """The diagnostics of :class:`GRPOStats` for ``[N, T]`` log-probs (arguments as :func:`grpo_loss`)."""
    epsilon_low = settings.epsilon_low
    epsilon_high = epsilon_low if settings.epsilon_high is None else settings.epsilon_high
    token_mask = _token_mask(mask, keep)
    ratio = torch.exp(_log_ratio(logps, old_logps, token_mask, settings.importance_sampling_level)).expand_as(logps)
    adv = advantages[:, None]
    low = (ratio < 1.0 - epsilon_low) & (adv < 0) & token_mask
    high = (ratio > 1.0 + epsilon_high) & (adv > 0) & token_mask
    total = token_mask.sum().clamp_min(1)
    kl = _k3_kl(logps, ref_logps, token_mask) if ref_logps is not None else torch.zeros_like(ratio)
    return GRPOStats(
        clip_low=low.sum() / total,
        clip_high=high.sum() / total,
        clip_region=(low | high).sum() / total,
        kl=(kl * token_mask).sum() / total,
        ratio=(ratio * token_mask).sum() / total,
    )
