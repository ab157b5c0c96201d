"""Dropout and train/eval modes of the policy: a temporary eval mode, and dropout off for good."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """``module.eval()`` inside the block; on exit each submodule gets back its own previous mode.

    Sampling and reference log-probs must not see dropout, but the training step that follows must
    find every module as it left it. ``module.train(previous)`` would not do: it would switch a
    frozen judge kept in eval mode inside a training LightningModule back to train mode.
    """
    modes = {sub: sub.training for sub in module.modules()}
    module.eval()
    try:
        yield module
    finally:
        for sub, training in modes.items():
            sub.training = training
