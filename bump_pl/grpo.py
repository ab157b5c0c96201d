"""Group-relative advantages and the clipped GRPO loss, as pure tensor functions.

``N = U * G`` sequences (rollouts), ``G`` consecutive ones per group (user), ``T`` completion
tokens per sequence; ``mask`` marks real completion tokens.

- :func:`group_advantages`: ``A = r - mean(group)``, optionally divided by ``std + eps`` of
  the group or of the whole batch (Bessel-corrected std).
- :func:`zero_std_groups`: groups whose rewards do not spread carry no signal; the module logs
  their fraction and may drop them (DAPO's dynamic sampling) with ``keep`` in :func:`grpo_loss`.
- :func:`grpo_loss`: the PPO-style clipped surrogate per token, ``-min(ratio*A, clip(ratio,
  1-eps_low, 1+eps_high)*A)``, plus ``beta`` times the k3 KL estimate to a reference policy,
  normalised as ``grpo`` (per-sequence token mean, then mean over sequences), ``bnpo`` (sum
  over all tokens / token count) or ``dr_grpo`` (sum / (sequences * max completion length)).
  Dropped sequences (``keep`` False) contribute nothing and are not counted by any of the
  three normalisations.

The loss is **row-separable**: its normalisers depend only on ``mask`` and ``keep``, so the
gradient with respect to some rows of ``logps`` does not depend on the values of the other rows.
The module relies on this to backpropagate the loss a chunk of rows at a time (tested).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import torch
from torch import Tensor

AdvantageScale = Literal["group", "batch", "none"]
LossType = Literal["grpo", "bnpo", "dr_grpo"]


def _grouped(rewards: Tensor, group_size: int) -> Tensor:
    """``[N]`` -> ``[N // G, G]``, checking that ``G >= 2`` divides ``N``."""
    if rewards.ndim != 1:
        raise ValueError(f"rewards must be 1-D [N], got shape {tuple(rewards.shape)}")
    if not isinstance(group_size, int) or group_size < 2 or rewards.numel() % group_size:
        raise ValueError(f"group_size must be an int >= 2 dividing N={rewards.numel()}, got {group_size!r}")
    return rewards.view(-1, group_size)


def group_advantages(rewards: Tensor, group_size: int, scale: AdvantageScale = "group", eps: float = 1e-4) -> Tensor:
    """Group-relative advantages.

    Args:
        rewards: ``[N]``, ``G`` consecutive rollouts per group.
        group_size: ``G >= 2``.
        scale: divide the centred rewards by ``std + eps`` of their ``group``, of the whole
            ``batch``, or not at all (``none``, Dr. GRPO).
        eps: added to the std so that zero-spread groups give 0 rather than NaN.

    Returns:
        ``[N]`` advantages, ``A_i = r_i - mean(group(i))`` (scaled).
    """
    grouped = _grouped(rewards, group_size)
    centred = grouped - grouped.mean(dim=1, keepdim=True)  # [N // G, G]
    if scale == "group":
        centred = centred / (grouped.std(dim=1, keepdim=True) + eps)
    elif scale == "batch":
        centred = centred / (rewards.std() + eps)
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

    def to_dict(self, prefix: str = "") -> dict[str, Tensor]:
        """``{prefix + field: value}`` for logging."""
        return {f"{prefix}{field.name}": getattr(self, field.name) for field in fields(self)}


def _check_loss_inputs(logps: Tensor, old_logps: Tensor, advantages: Tensor, mask: Tensor,
                       ref_logps: Tensor | None, keep: Tensor | None, epsilon_low: float, epsilon_high: float) -> None:
    if logps.ndim != 2:
        raise ValueError(f"grpo_loss: logps must be [N, T], got shape {tuple(logps.shape)}")
    for name, other in (("old_logps", old_logps), ("mask", mask), ("ref_logps", ref_logps)):
        if other is not None and other.shape != logps.shape:
            raise ValueError(f"grpo_loss: {name} must match logps {tuple(logps.shape)}, got {tuple(other.shape)}")
    for name, vector in (("advantages", advantages), ("keep", keep)):
        if vector is not None and tuple(vector.shape) != (logps.shape[0],):
            raise ValueError(f"grpo_loss: {name} must be [N] = [{logps.shape[0]}], got {tuple(vector.shape)}")
    if not (0.0 <= epsilon_low < 1.0 and epsilon_high >= 0.0):
        raise ValueError(
            f"grpo_loss: need 0 <= epsilon_low < 1 and epsilon_high >= 0, got {epsilon_low}, {epsilon_high}"
        )


def grpo_loss(
    logps: Tensor,
    old_logps: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    ref_logps: Tensor | None = None,
    beta: float = 0.0,
    epsilon_low: float = 0.2,
    epsilon_high: float | None = None,
    loss_type: LossType = "grpo",
    max_completion_length: int | None = None,
    keep: Tensor | None = None,
) -> tuple[Tensor, GRPOStats]:
    """Clipped GRPO surrogate loss (to minimise) with an optional k3 KL penalty.

    Args:
        logps: ``[N, T]`` per-token log-probs of the completions under the current policy (with grad).
        old_logps: ``[N, T]`` the same under the policy that sampled them (no grad; on-policy:
            ``logps.detach()``).
        advantages: ``[N]`` per-sequence advantages.
        mask: ``[N, T]`` bool/0-1, real completion tokens. Masked positions may hold anything.
        ref_logps: ``[N, T]`` reference-policy log-probs; needed when ``beta > 0``.
        beta: weight of ``KL = exp(ref - logp) - (ref - logp) - 1`` per token.
        epsilon_low, epsilon_high: clip range ``[1 - eps_low, 1 + eps_high]`` of the ratio;
            ``epsilon_high`` defaults to ``epsilon_low``.
        loss_type: ``grpo``, ``bnpo`` or ``dr_grpo`` normalisation (module docstring).
        max_completion_length: ``dr_grpo``'s constant length; defaults to ``T``.
        keep: ``[N]`` bool, sequences that take part (default all); dropped ones contribute
            nothing and are not counted.

    Returns:
        ``(loss, stats)``: 0-dim loss (0 with a graph when nothing is kept) and :class:`GRPOStats`.
    """
    epsilon_high = epsilon_low if epsilon_high is None else epsilon_high
    _check_loss_inputs(logps, old_logps, advantages, mask, ref_logps, keep, epsilon_low, epsilon_high)
    if beta > 0 and ref_logps is None:
        raise ValueError("grpo_loss: beta > 0 needs ref_logps")
    if max_completion_length is not None and max_completion_length < logps.shape[1]:
        raise ValueError(f"grpo_loss: max_completion_length={max_completion_length} is shorter than the "
                         f"{logps.shape[1]} completion tokens given")
    token_mask = mask.bool()
    if keep is not None:
        token_mask = token_mask & keep.bool()[:, None]
    # Zero the masked positions first so that padding garbage (e.g. -inf) cannot reach exp() or the gradient.
    logps = torch.where(token_mask, logps, torch.zeros_like(logps))
    old_logps = torch.where(token_mask, old_logps, torch.zeros_like(old_logps))
    adv = advantages[:, None].to(logps.dtype)  # [N, 1]

    ratio = torch.exp(logps - old_logps)  # [N, T]
    clipped = ratio.clamp(1.0 - epsilon_low, 1.0 + epsilon_high)
    per_token = -torch.minimum(ratio * adv, clipped * adv)  # [N, T]
    kl = torch.zeros_like(per_token)
    if ref_logps is not None:
        delta = torch.where(token_mask, ref_logps, torch.zeros_like(ref_logps)) - logps
        kl = torch.exp(delta) - delta - 1.0
        if beta > 0:
            per_token = per_token + beta * kl

    weights = token_mask.to(per_token.dtype)  # [N, T]
    masked_sum = (per_token * weights).sum(dim=1)  # [N]
    num_tokens = weights.sum(dim=1)  # [N]
    kept = keep.bool() if keep is not None else torch.ones_like(advantages, dtype=torch.bool)
    num_kept = kept.sum()
    if loss_type == "grpo":
        loss = (masked_sum / num_tokens.clamp_min(1.0)).sum() / num_kept.clamp_min(1)
    elif loss_type == "bnpo":
        loss = masked_sum.sum() / num_tokens.sum().clamp_min(1.0)
    elif loss_type == "dr_grpo":
        length = logps.shape[1] if max_completion_length is None else max_completion_length
        loss = masked_sum.sum() / (num_kept.clamp_min(1) * length)
    else:
        raise ValueError(f"grpo_loss: loss_type must be 'grpo', 'bnpo' or 'dr_grpo', got {loss_type!r}")

    with torch.no_grad():
        low = (ratio < 1.0 - epsilon_low) & (adv < 0) & token_mask
        high = (ratio > 1.0 + epsilon_high) & (adv > 0) & token_mask
        total = weights.sum().clamp_min(1.0)
        stats = GRPOStats(
            clip_low=low.sum() / total,
            clip_high=high.sum() / total,
            clip_region=(low | high).sum() / total,
            kl=(kl * weights).sum() / total,
            ratio=(ratio * weights).sum() / total,
        )
    return loss, stats
