"""``merged_lora(policy)``: generate from a LoRA policy with its adapters folded into the base weights.

An adapted linear layer computes ``W x + s B A x``: every forward adds, per adapted layer (seven per
transformer block with ``all-linear``), two skinny matrix products and two elementwise passes over
the layer's output. The FLOPs are a few percent; the passes over memory are not: at
SmolLM2-135M's rollout shape on 2 CPU cores the adapters cost about a fifth of the rollouts
(bench/README.md). Generation does not change the weights, so ``W + s B A`` can be formed once per
call instead of recomputing ``s B A x`` at every decode step.

Inside the context each adapted layer's base weight is a new tensor ``W + ΔW`` (``ΔW`` from peft's
``get_delta_weight``, the sum over active adapters) and the adapters are switched off. On exit the
original tensors are put back, so the frozen base weights are bit for bit what they were (peft's own
``merge_adapter``/``unmerge_adapter`` subtract ``ΔW`` again, which leaves float rounding in the
frozen weights at every step). Outputs equal the adapter path's up to float rounding (tested). While
open it holds one extra copy of the adapted weights.

A policy it cannot fold exactly runs unchanged (the context yields False): no peft adapter, adapters
already merged or off, an adapted layer that is not a plain ``Linear``, DoRA or other LoRA variants,
LoRA biases, or weights a sharding strategy has split (FSDP, DeepSpeed ZeRO-3: a tensor whose shape
is not its layer's, or a ``DTensor``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from peft import PeftModel
from peft.tuners.lora import Linear as LoraLinear
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn


def foldable_lora_layers(policy: nn.Module) -> list[LoraLinear]:
    """The adapted layers of ``policy`` if every one can be folded exactly (see the module docstring), else ``[]``."""
    if not isinstance(policy, PeftModel):
        return []
    layers = [module for module in policy.modules() if isinstance(module, BaseTunerLayer)]
    if not layers or not all(_foldable(layer) for layer in layers):
        return []
    return layers


def _active_names(layer: LoraLinear) -> list[str]:
    """The active adapters this layer holds."""
    return [name for name in layer.active_adapters if name in layer.lora_A]


def _foldable(layer: BaseTunerLayer) -> bool:
    """A plain LoRA ``Linear`` with vanilla adapters on, none merged, every tensor whole and of its layer's shape."""
    if not isinstance(layer, LoraLinear) or layer.merged or layer.disable_adapters:
        return False
    names = _active_names(layer)
    if not names or any(name in layer.lora_variant or layer.lora_bias[name] for name in names):
        return False
    rows, cols = layer.out_features, layer.in_features
    pairs = [(layer.get_base_layer().weight, (cols, rows) if layer.fan_in_fan_out else (rows, cols))]
    for name in names:
        pairs += [(layer.lora_A[name].weight, (layer.r[name], cols)), (layer.lora_B[name].weight, (rows, layer.r[name]))]
    return all(type(t.data) is torch.Tensor and tuple(t.shape) == shape for t, shape in pairs)


@contextmanager
def merged_lora(policy: nn.Module) -> Iterator[bool]:
    """Inside, ``policy`` runs with its LoRA adapters folded into the base weights (yields True), or
    unchanged when it cannot be folded exactly (yields False); on exit the original weights are back."""
    layers = foldable_lora_layers(policy)
    if not layers:
        yield False
        return
    originals: list[tuple[nn.Parameter, torch.Tensor]] = []
    try:
        with torch.no_grad():
            for layer in layers:
                weight = layer.get_base_layer().weight
                delta = sum(layer.get_delta_weight(name) for name in _active_names(layer))
                originals.append((weight, weight.data))
                weight.data = weight.data + delta.to(weight.dtype)
        with policy.disable_adapter():
            yield True
    finally:
        for weight, data in originals:
            weight.data = data
