"""Temporarily switch a module to eval mode (dropout off), restoring its previous mode after."""

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
