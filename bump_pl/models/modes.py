"""Dropout control for the policy: a temporary eval mode, and switching dropout off for good."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """``module.eval()`` inside the block; train mode is restored on exit if it was on before.

    Sampling and reference log-probs must not see dropout, but the training step that follows
    must find the policy exactly as it left it.
    """
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def disable_dropout(module: nn.Module) -> nn.Module:
    """Set ``p = 0`` on every ``nn.Dropout`` inside ``module`` (LoRA's adapter dropout included).

    GRPO's importance ratio compares the policy that trains with the policy that sampled (in eval
    mode); with dropout off both are the same function, so the ratio is exactly 1 on the first
    optimizer step of a batch of rollouts (TRL's ``disable_dropout``, on by default there too).
    """
    for child in module.modules():
        if isinstance(child, nn.Dropout):
            child.p = 0.0
    return module
