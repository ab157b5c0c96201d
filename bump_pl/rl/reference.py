"""The frozen starting policy whose log-probs the KL term compares against.

With LoRA the reference policy is the same network with the adapter switched off, so no second
copy of the weights is held. Full fine-tuning needs a frozen deep copy, and only when the KL
coefficient ``beta`` is positive; with ``beta == 0`` there is no reference at all.
"""

from __future__ import annotations

import copy
from contextlib import nullcontext

import torch
from peft import PeftModel
from torch import Tensor
from transformers import PreTrainedModel

from bump_pl.models.modes import eval_mode
from bump_pl.models.rollout import Rollouts
from bump_pl.rl.logprobs import completion_logprobs


class ReferencePolicy:
    """Log-probs of the frozen starting policy, for the KL term.

    LoRA policy: the policy itself with its adapter disabled. Full fine-tuning with ``beta > 0``:
    a frozen deep copy taken now (before any update). ``beta == 0``: nothing (``enabled`` False).
    """

    def __init__(self, policy: PreTrainedModel, *, beta: float) -> None:
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.policy = policy
        self.enabled = beta > 0
        self.frozen: PreTrainedModel | None = None
        if self.enabled and not isinstance(policy, PeftModel):
            self.frozen = copy.deepcopy(policy).requires_grad_(False).eval()

    def logprobs(self, rollouts: Rollouts) -> Tensor:
        """``[U*G, T]`` reference log-probs of ``rollouts`` (no grad, dropout off), as :func:`completion_logprobs`."""
        if not self.enabled:
            raise RuntimeError("no reference policy when beta == 0; check ReferencePolicy.enabled first")
        model = self.frozen if self.frozen is not None else self.policy
        adapter_off = self.policy.disable_adapter() if self.frozen is None else nullcontext()
        with torch.no_grad(), eval_mode(model), adapter_off:
            return completion_logprobs(model, rollouts)
