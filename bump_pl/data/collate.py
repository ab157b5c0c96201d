"""Collate per-user examples into a ``UserGroupBatch``: prompts that fit the budget, left-padded."""

from __future__ import annotations

from typing import Any

from bump_pl.data.batch import UserGroupBatch
from bump_pl.data.dataset import UserExample
from bump_pl.data.prompts import ProfilePrompt, fit_context
from bump_pl.token_padding import pad_id_of, pad_token_ids


class UserGroupCollator:
    """Builds each user's prompt from their most recent context items that fit ``max_prompt_tokens``.

    Args:
        tokenizer: a Hugging Face tokenizer (its chat template is used when it has one).
        max_prompt_tokens: token budget of one prompt (None: unlimited).
        prompt: what the generator is asked to write.
    """

    def __init__(self, tokenizer: Any, max_prompt_tokens: int | None, prompt: ProfilePrompt = ProfilePrompt()) -> None:
        self.tokenizer, self.max_prompt_tokens, self.pad_id = tokenizer, max_prompt_tokens, pad_id_of(tokenizer)
        self.prompt = prompt

    def __call__(self, examples: list[UserExample]) -> UserGroupBatch:
        contexts, prompts, ids = [], [], []
        for example in examples:
            kept, prompt, tokens = fit_context(example.context, self.tokenizer, self.max_prompt_tokens, self.prompt)
            contexts.append(kept)
            prompts.append(prompt)
            ids.append(tokens)
        input_ids, attention_mask = pad_token_ids(ids, self.pad_id, "left")
        return UserGroupBatch(
            user_ids=[example.user_id for example in examples],
            prompts=prompts,
            heldout=[example.heldout for example in examples],
            context=contexts,
            input_ids=input_ids,
            attention_mask=attention_mask,
        )
