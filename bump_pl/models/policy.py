"""The trainable policy (LoRA through peft, or full fine-tuning) and its export.

Its frozen KL reference is :class:`bump_pl.rl.reference.ReferencePolicy`.
"""

from __future__ import annotations

import copy
from pathlib import Path

from peft import PeftModel, get_peft_model
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from bump_pl.models.lora import LoraSettings


def build_policy(model: PreTrainedModel, lora: LoraSettings | None) -> PreTrainedModel:
    """Wrap ``model`` with a fresh LoRA adapter (only adapter weights train), or train it all if ``lora`` is None."""
    if lora is None:
        return model.requires_grad_(True)
    return get_peft_model(model, lora.peft_config())


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
