"""LoRA settings: a dataclass with no torch or peft import, so a command's ``--help`` stays fast.

``bump_pl.models.policy`` builds the adapter from it (and re-exports it, where checkpoints and
configs written before this module existed look for it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

@dataclass
class LoraSettings:
    """LoRA hyper-parameters (a dataclass so LightningCLI can expose them).

    Attributes:
        rank: adapter rank ``r``.
        alpha: scaling numerator (the update is scaled by ``alpha / rank``).
        dropout: dropout on the adapter input.
        target_modules: ``"all-linear"`` (every linear layer but the LM head) or module names,
            e.g. ``["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]``.
    """

    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    target_modules: str | list[str] = field(default="all-linear")

    def peft_config(self, task_type: str = "CAUSAL_LM") -> Any:
        """These settings as a ``peft.LoraConfig`` (no bias training) for ``task_type``.

        Typed ``Any``: jsonargparse resolves annotations when it builds a parser, and this one would import peft.
        """
        from peft import LoraConfig  # lazy: reading the settings (a command's --help) needs no peft

        return LoraConfig(
            r=self.rank,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=self.target_modules,
            bias="none",
            task_type=task_type,
        )
