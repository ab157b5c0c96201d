"""Eval mode for a whole module tree, restoring every submodule's own mode afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def eval_all(module: nn.Module) -> Iterator[nn.Module]:
    """``module.eval()`` inside the block; on exit each submodule gets back its own previous mode.

    ``module.train(previous)`` would not do: it would switch a frozen judge kept in eval mode
    inside a training LightningModule back to train mode (dropout on).
    """
    modes = {sub: sub.training for sub in module.modules()}
    module.eval()
    try:
        yield module
    finally:
        for sub, training in modes.items():
            sub.training = training
