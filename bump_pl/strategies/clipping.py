"""Gradient clipping by global norm that is correct under every Lightning strategy bump-pl ships.

``LightningModule.clip_gradients(..., "norm")`` is right for one device and DDP (gradients are
already all-reduced, so every rank computes the same global norm), but:

- FSDP (``FSDPStrategy``): Lightning's FSDP precision plugin refuses norm clipping, because each
  rank holds a shard: the norm must be reduced across ranks. The root FSDP module's own
  ``clip_grad_norm_`` does that.
- FSDP2 (``ModelParallelStrategy``, ``fully_shard``): parameters and gradients are DTensors;
  ``torch.nn.utils.clip_grad_norm_`` reduces their norm across the mesh.
- DeepSpeed: ``clip_gradients`` silently does nothing; the engine clips in its own step with the
  config's ``gradient_clipping``. So the value must be there, and equal ``model.max_grad_norm``:
  :func:`check_deepspeed_clipping` raises otherwise (at setup and again at each clip).
"""

from __future__ import annotations

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.strategies import DeepSpeedStrategy, FSDPStrategy
from torch import nn
from torch.distributed.tensor import DTensor
from torch.optim import Optimizer


def check_deepspeed_clipping(trainer: Trainer, max_grad_norm: float) -> None:
    """Raise if ``trainer`` runs DeepSpeed whose ``gradient_clipping`` differs from ``max_grad_norm``.

    DeepSpeed's value is its config's ``gradient_clipping``, else (as Lightning fills it in)
    ``trainer.gradient_clip_val``, else 0 (off). Other strategies pass.
    """
    strategy = trainer.strategy
    if not isinstance(strategy, DeepSpeedStrategy):
        return
    configured = float((strategy.config or {}).get("gradient_clipping", trainer.gradient_clip_val or 0.0))
    if configured != float(max_grad_norm):
        raise ValueError(
            f"model.max_grad_norm={max_grad_norm} but DeepSpeed clips at gradient_clipping={configured} (its engine "
            "does the clipping): set trainer.strategy.init_args.config.gradient_clipping to the same value "
            "(configs/strategy/deepspeed.yaml)"
        )


def _sharded_root(strategy, module: LightningModule) -> nn.Module | None:
    """The root FSDP (v1) module under ``FSDPStrategy``, else None."""
    if not isinstance(strategy, FSDPStrategy):
        return None
    from torch.distributed.fsdp import FullyShardedDataParallel

    root = strategy.model
    return root if isinstance(root, FullyShardedDataParallel) else None


def clip_dtensor_gradients(parameters: list[nn.Parameter], max_norm: float) -> torch.Tensor:
    """Clip sharded (DTensor) gradients by their global norm across the mesh; returns that norm."""
    norm = torch.nn.utils.clip_grad_norm_([p for p in parameters if p.grad is not None], max_norm)
    return norm.full_tensor() if isinstance(norm, DTensor) else norm


def clip_policy_gradients(module: LightningModule, optimizer: Optimizer, max_norm: float) -> None:
    """Clip the gradients of ``optimizer``'s parameters to global norm ``max_norm`` (0: off).

    Dispatches on ``module.trainer.strategy``: DeepSpeed (checked, then left to the engine), FSDP
    (root ``clip_grad_norm_``), DTensor parameters (FSDP2: ``clip_grad_norm_`` over the mesh),
    anything else (single device, DDP) Lightning's ``clip_gradients``.
    """
    if max_norm <= 0:
        return
    strategy = module.trainer.strategy
    if isinstance(strategy, DeepSpeedStrategy):
        check_deepspeed_clipping(module.trainer, max_norm)
        return
    root = _sharded_root(strategy, module)
    if root is not None:
        root.clip_grad_norm_(max_norm)
        return
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    if any(isinstance(p, DTensor) for p in parameters):
        clip_dtensor_gradients(parameters, max_norm)
        return
    module.clip_gradients(optimizer, gradient_clip_val=max_norm, gradient_clip_algorithm="norm")
