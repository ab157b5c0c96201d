"""``UserGroupBatch``: the unit of BUMP training — U distinct users, their prompts and held-out items."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch


@dataclass
class UserGroupBatch:
    """U distinct users (a user twice in a batch would be a false negative for the reward).

    Attributes:
        user_ids: the U user ids, all distinct.
        prompts: the generator's prompt for each user (built from ``context`` only), U strings.
        heldout: K rendered held-out interactions per user (``U`` lists of ``K``); empty lists
            for prediction batches.
        context: the rendered context items in each prompt, most recent last (``U`` lists).
        input_ids: [U, P] LongTensor, the tokenized prompts, left-padded.
        attention_mask: [U, P] LongTensor, 1 on prompt tokens and 0 on left padding.
    """

    user_ids: list[str]
    prompts: list[str]
    heldout: list[list[str]]
    context: list[list[str]]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor

    def __post_init__(self) -> None:
        count = len(self.user_ids)
        if len(set(self.user_ids)) != count:
            raise ValueError(f"a UserGroupBatch needs distinct users, got {self.user_ids}")
        sizes = {len(self.prompts), len(self.heldout), len(self.context), self.input_ids.shape[0]}
        if sizes != {count} or self.input_ids.shape != self.attention_mask.shape:
            raise ValueError(
                f"UserGroupBatch fields disagree: {count} users, {len(self.prompts)} prompts,"
                f" {len(self.heldout)} heldout, {len(self.context)} contexts,"
                f" input_ids {tuple(self.input_ids.shape)}, attention_mask {tuple(self.attention_mask.shape)}"
            )

    def __len__(self) -> int:
        """The number of users U."""
        return len(self.user_ids)

    def to(self, device: torch.device | str) -> UserGroupBatch:
        """A copy with the tensors on ``device``; Lightning's batch transfer calls this."""
        return replace(self, input_ids=self.input_ids.to(device), attention_mask=self.attention_mask.to(device))
