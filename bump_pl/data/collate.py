"""Collate per-user examples into a ``UserGroupBatch``: prompts that fit the budget, left-padded."""

from __future__ import annotations

from typing import Any

from bump_pl.data.batch import UserGroupBatch
from bump_pl.data.dataset import UserExample
from bump_pl.data.prompts import fit_context, left_pad


class UserGroupCollator:
    """Builds each user's prompt from their most recent context items that fit ``max_prompt_tokens``.

    Args:
        tokenizer: a Hugging Face tokenizer (its chat template is used when it has one).
        max_prompt_tokens: token budget of one prompt (None: unlimited).
    """

    def __init__(self, tokenizer: Any, max_prompt_tokens: int | None) -> None:
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad_id is None:
            raise ValueError("the tokenizer has neither a pad nor an eos token to pad prompts with")
        self.tokenizer, self.max_prompt_tokens, self.pad_id = tokenizer, max_prompt_tokens, pad_id

    def __call__(self, examples: list[UserExample]) -> UserGroupBatch:
        contexts, prompts, ids = [], [], []
        for example in examples:
            kept, prompt, tokens = fit_context(example.context, self.tokenizer, self.max_prompt_tokens)
            contexts.append(kept)
            prompts.append(prompt)
            ids.append(tokens)
        input_ids, attention_mask = left_pad(ids, self.pad_id)
        return UserGroupBatch(
            user_ids=[example.user_id for example in examples],
            prompts=prompts,
            heldout=[example.heldout for example in examples],
            context=contexts,
            input_ids=input_ids,
            attention_mask=attention_mask,
        )
