"""Dropout control for the policy: switching dropout off for good (a temporary eval mode: ``bump_pl.utils.eval_mode``)."""

from __future__ import annotations

from torch import nn


def disable_dropout(module: nn.Module) -> nn.Module:
    """Set ``p = 0`` on every ``nn.Dropout`` inside ``module`` (LoRA's adapter dropout included).

    GRPO's importance ratio compares the policy that trains with the policy that sampled (in eval
    mode); with dropout off both are the same function, so the ratio is exactly 1 on the first
    optimizer step of a batch of rollouts (TRL's ``disable_dropout``; TRL 1.16 leaves it off by
    default, ``GRPOSettings.disable_dropout`` turns it on by choice).
    """
    for child in module.modules():
        if isinstance(child, nn.Dropout):
            child.p = 0.0
    return module
