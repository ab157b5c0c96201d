"""Prompts of the downstream LaMP evaluation: the question alone, or with a profile or raw history.

Three variants are evaluated side by side on the same questions:

* ``no_profile``: the LaMP question input alone.
* ``profile``: the user's cached profile, then the question.
* ``raw_history``: the user's ``history_items`` most recent items (``task.render``, one a line),
  then the question.

Profile and raw history get the same budget of ``context_tokens`` tokens of the downstream model's
tokenizer (a profile keeps its head, a history its most recent tail), so the comparison is at equal
length. Question inputs keep their first ``max_question_tokens`` tokens (LaMP puts the instruction
first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bump_pl.data import LampExample, TaskSpec, UserHistory

Variant = Literal["profile", "no_profile", "raw_history"]
VARIANTS: tuple[Variant, ...] = ("profile", "no_profile", "raw_history")
Architecture = Literal["causal", "seq2seq"]

_LABELS = {"profile": "User profile", "raw_history": "User's recent history, oldest first"}


def truncate_tokens(text: str, tokenizer: Any, max_tokens: int, keep: Literal["head", "tail"]) -> str:
    """``text`` cut to at most ``max_tokens`` tokens of ``tokenizer``, keeping its start or its end."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return text
    kept = ids[:max_tokens] if keep == "head" else ids[len(ids) - max_tokens :]
    return tokenizer.decode(kept, skip_special_tokens=True).strip()


def format_for_model(text: str, tokenizer: Any, architecture: Architecture) -> str:
    """The model-facing prompt: a chat turn for a causal LM with a chat template, else plain text
    (a causal LM without a template gets ``"\\nAnswer:"`` to continue)."""
    if architecture == "seq2seq":
        return text
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
    return f"{text}\nAnswer:"


@dataclass
class PromptBuilder:
    """Builds each variant's prompt for one LaMP question of one user.

    Attributes:
        task: renders raw history items.
        tokenizer: the downstream model's tokenizer (token budgets are in its tokens).
        architecture: ``causal`` or ``seq2seq`` (how the prompt is wrapped).
        context_tokens: budget of the profile and of the raw history.
        history_items: most recent items considered for ``raw_history``.
        max_question_tokens: budget of the question input.
    """

    task: TaskSpec
    tokenizer: Any
    architecture: Architecture
    context_tokens: int
    history_items: int
    max_question_tokens: int

    def context(self, variant: Variant, user: UserHistory, profile: str | None) -> str | None:
        """The text put before the question (``None`` for ``no_profile``)."""
        if variant == "no_profile":
            return None
        if variant == "profile":
            if profile is None:
                raise ValueError(f"no cached profile for user {user.user_id!r}")
            return truncate_tokens(profile.strip(), self.tokenizer, self.context_tokens, keep="head")
        if variant == "raw_history":
            recent = user.items[-self.history_items :] if self.history_items > 0 else []
            history = "\n".join(f"- {self.task.render(item)}" for item in recent)
            return truncate_tokens(history, self.tokenizer, self.context_tokens, keep="tail")
        raise ValueError(f"unknown downstream variant {variant!r}; expected one of {VARIANTS}")

    def __call__(self, variant: Variant, user: UserHistory, question: LampExample, profile: str | None) -> str:
        """The full model-facing prompt of ``question`` under ``variant``."""
        text = truncate_tokens(question.input.strip(), self.tokenizer, self.max_question_tokens, keep="head")
        context = self.context(variant, user, profile)
        if context is not None:
            text = f"{_LABELS[variant]}:\n{context}\n\n{text}"
        return format_for_model(text, self.tokenizer, self.architecture)
