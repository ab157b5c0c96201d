"""Size the policy update's ``grad_budget_tokens`` from the device's free memory (``auto``).

The memory-bounded update (:mod:`bump_pl.rl.chunked_backward`) forwards at most
``grad_budget_tokens`` tokens with gradients at once; its peak memory is about that many tokens
times the activation bytes autograd keeps per token. Too small a budget runs many small, slow
forwards (75-95 s/step at 256 tokens on an H200 for the LaMP shape); too large runs out of memory.

Bytes kept per token with gradients, for a Llama/Qwen2-style layer (hidden ``h``, key/value
width ``kv``, MLP width ``I``) in activation dtype of ``b`` bytes, with LoRA on all projections:

- per layer ``b * (18 h + 4 kv + 5 I)``: norm inputs/outputs (float32 inside RMSNorm), q/k/v and
  their rotated copies, attention output, the residual stream, LoRA's dropped inputs, and the
  MLP's gate, up, activation and product;
- once, at the LM head, ``14 * vocab`` bytes: the logits (``b``) and their float32 copy,
  log-softmax and its gradient (the largest single term for Qwen's 151,936-token vocabulary).

For Qwen2.5-1.5B in bf16 that is 6.24 MB/token; the H200 run with budget 8,192 peaked at 61 GB,
i.e. <= 6.8 MB/token counting everything else too; :data:`FRAGMENTATION` (1.15) makes the
estimate 7.2 MB/token, above that measured bound. The budget is ``fraction`` (0.5) of the free memory over that,
leaving the other half for the rollouts' KV cache, the judge and allocator slack. With 5 GiB of
weights loaded (1.5B policy + 0.5B judge), a 24 / 80 / 141 GB card gets 1,408 / 5,504 / 10,112
tokens, i.e. an estimated update peak of 14 / 42 / 73 GB.

Activation checkpointing of the continuation rows would keep ``b * h`` per layer instead (~86 kB
vs 4.1 MB per token for 1.5B) but not the LM-head term (1.8 MB), so it would raise the budget
~2.7x for one extra forward of the continuations. From 80 GB on, the budget (>= 5k tokens) already
gives GEMMs of thousands of rows and a handful of chunks per step, so bigger chunks are the cheaper
way; on 24 GB cards (~1.3k tokens) checkpointing could pay off. Not measured (needs a GPU).
"""

from __future__ import annotations

import torch
from torch import nn

FRAGMENTATION = 1.15
ROUND_TO = 128


def activation_bytes_per_token(config, activation_bytes: int) -> int:
    """Bytes autograd keeps per token of a causal LM forward with LoRA (see the module docstring).

    Args:
        config: a transformers config with ``num_hidden_layers``, ``hidden_size``,
            ``intermediate_size``, ``num_attention_heads``, ``vocab_size`` (and optionally
            ``num_key_value_heads``, ``head_dim``).
        activation_bytes: bytes per activation element (2 for bf16/fp16, 4 for float32).
    """
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden, heads = text.hidden_size, text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or hidden // heads
    kv = (getattr(text, "num_key_value_heads", None) or heads) * head_dim
    per_layer = activation_bytes * (18 * hidden + 4 * kv + 5 * text.intermediate_size)
    return text.num_hidden_layers * per_layer + 14 * text.vocab_size


def budget_from_free_memory(free_bytes: int, bytes_per_token: int, fraction: float = 0.5, minimum: int = 256) -> int:
    """``fraction`` of ``free_bytes`` over ``bytes_per_token * FRAGMENTATION``, rounded down to 128, >= ``minimum``."""
    if not 0 < fraction <= 1:
        raise ValueError(f"memory.py: fraction must be in (0, 1], got {fraction}")
    tokens = int(free_bytes * fraction / (bytes_per_token * FRAGMENTATION))
    return max(minimum, tokens // ROUND_TO * ROUND_TO)


def auto_grad_budget_tokens(
    model: nn.Module,
    device: torch.device | str,
    *,
    activation_dtype: torch.dtype | None = None,
    free_bytes: int | None = None,
    fraction: float = 0.5,
    cpu_budget: int = 256,
) -> int:
    """``grad_budget_tokens`` for ``model`` on ``device``: from free CUDA memory, ``cpu_budget`` elsewhere.

    Call it once the policy and the judge are on the device (the weights are then not free).

    Args:
        model: the policy (a transformers model, PEFT-wrapped or not: ``model.config`` is read).
        activation_dtype: dtype of the activations (bf16 under bf16-mixed); default the model's.
        free_bytes: free device memory; default ``torch.cuda.mem_get_info(device)[0]``.
        cpu_budget: the budget off CUDA (256 tokens, the measured CPU optimum for SmolLM2).
    """
    device = torch.device(device)
    if device.type != "cuda":
        return cpu_budget
    if free_bytes is None:
        free_bytes = torch.cuda.mem_get_info(device)[0]
    dtype = activation_dtype or next(model.parameters()).dtype
    per_token = activation_bytes_per_token(model.config, torch.finfo(dtype).bits // 8)
    return budget_from_free_memory(free_bytes, per_token, fraction, minimum=cpu_budget)
