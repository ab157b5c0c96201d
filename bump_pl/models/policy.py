"""The trainable policy (LoRA through peft, or full fine-tuning), its KL reference, and export.

With LoRA the reference policy is the same network with the adapter switched off, so no second
copy of the weights is held. Full fine-tuning needs a frozen deep copy, and only when the KL
coefficient ``beta`` is positive; with ``beta == 0`` there is no reference at all.
"""

from __future__ import annotations

import copy
from contextlib import nullcontext
from pathlib import Path

import torch
from peft import PeftModel, get_peft_model
from torch import Tensor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from bump_pl.models.lora import LoraSettings
from bump_pl.models.logprobs import completion_logprobs
from bump_pl.models.rollout import Rollouts
from bump_pl.utils import eval_mode


def build_policy(model: PreTrainedModel, lora: LoraSettings | None) -> PreTrainedModel:
    """Wrap ``model`` with a fresh LoRA adapter (only adapter weights train), or train it all if ``lora`` is None."""
    if lora is None:
        return model.requires_grad_(True)
    return get_peft_model(model, lora.peft_config())


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


def export_policy(
    policy: PreTrainedModel, tokenizer: PreTrainedTokenizerBase | None, out_dir: str | Path, *, merge: bool
) -> Path:
    """Save the trained policy with ``save_pretrained`` (plus the tokenizer, if given).

    ``merge=True`` writes a plain model with the adapter folded in (loadable with
    :func:`~bump_pl.models.loading.load_causal_lm`), from a copy so ``policy`` keeps training;
    ``merge=False`` writes only the adapter (for ``PeftModel.from_pretrained``). A fully
    fine-tuned policy is always saved whole.
    """
    out = Path(out_dir)
    if isinstance(policy, PeftModel) and merge:
        copy.deepcopy(policy).merge_and_unload().save_pretrained(out)
    else:
        policy.save_pretrained(out)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    return out
