"""Prompts of the downstream LaMP evaluation: the question alone, or with a profile or the user's history.

Four variants are evaluated side by side on the same questions, and two more on request:

* ``no_profile``: the LaMP question input alone.
* ``recent_history``: the user's ``history_items`` most recent items (``task.render``, one a line,
  oldest first), then the question.
* ``retrieved_history``: the user's items ranked by BM25 against the question input (most relevant
  first; :mod:`bump_pl.downstream.retrieval`), then the question. LaMP's own strong baseline.
* ``profile``: the user's generated profile, then the question.
* ``untrained_profile`` (optional): the profile the same generator wrote *before training* (the
  checkpoint's policy model, profile prompt and sampling without its trained weights), then the
  question, exactly as ``profile`` (same label and budget), so the two differ only in the profile's
  text. This is the paper's comparison of a BUMP-trained profile with a prompted one, paired on the
  same questions.
* ``other_user_profile`` (optional): another user's ``profile`` (a fixed derangement within the
  split, :mod:`bump_pl.downstream.other_user`), shown exactly as ``profile``: the control that keeps
  the profile's format and removes the person.

Profile and both histories get the same budget of ``context_tokens`` tokens of the downstream
model's tokenizer (a profile and a retrieved list keep their head, a recent history its most recent
tail), so the comparison is at equal length. Question inputs keep their first
``max_question_tokens`` tokens (LaMP puts the instruction first).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from bump_pl.data import LampExample, TaskSpec, UserHistory
from bump_pl.downstream.retrieval import rank_by_bm25
from bump_pl.downstream.settings import Architecture

Variant = Literal["no_profile", "recent_history", "retrieved_history", "profile", "other_user_profile", "untrained_profile"]
#: The variants always evaluated.
VARIANTS: tuple[Variant, ...] = ("no_profile", "recent_history", "retrieved_history", "profile")
#: The optional control, evaluated (after ``VARIANTS``) on request: each user shown another user's profile.
OTHER_USER_PROFILE: Variant = "other_user_profile"
#: The optional variant, evaluated (last) when the untrained generator's profiles are given.
UNTRAINED_PROFILE: Variant = "untrained_profile"
#: The optional variants, in the order they are evaluated and compared.
OPTIONAL_VARIANTS: tuple[Variant, ...] = (OTHER_USER_PROFILE, UNTRAINED_PROFILE)
#: The variants a profile is always compared with (``profile`` minus each, in the report).
BASELINES: tuple[Variant, ...] = ("no_profile", "recent_history", "retrieved_history")
#: The variants whose context is a profile (the user's, another user's, the untrained one): same label, same head truncation.
PROFILE_VARIANTS: tuple[Variant, ...] = ("profile", OTHER_USER_PROFILE, UNTRAINED_PROFILE)

_LABELS = {
    "profile": "User profile",
    OTHER_USER_PROFILE: "User profile",
    UNTRAINED_PROFILE: "User profile",
    "recent_history": "User's recent history, oldest first",
    "retrieved_history": "User's history most relevant to the question, most relevant first",
}


def baselines_of(variants: Iterable[str]) -> tuple[Variant, ...]:
    """The variants ``profile`` is compared with among those evaluated: :data:`BASELINES`, then those
    of :data:`OPTIONAL_VARIANTS` among ``variants``."""
    evaluated = set(variants)
    return BASELINES + tuple(variant for variant in OPTIONAL_VARIANTS if variant in evaluated)


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
        context_tokens: budget of the profile and of either history.
        history_items: most recent items considered for ``recent_history``.
        max_question_tokens: budget of the question input.
    """

    task: TaskSpec
    tokenizer: Any
    architecture: Architecture
    context_tokens: int
    history_items: int
    max_question_tokens: int

    def context(self, variant: Variant, user: UserHistory, question: LampExample, profile: str | None) -> str | None:
        """The text put before ``question`` (``None`` for ``no_profile``); ``profile`` is the user's
        profile of this variant (the trained one, another user's, the untrained one), unused by the others."""
        if variant == "no_profile":
            return None
        if variant in PROFILE_VARIANTS:
            if profile is None:
                raise ValueError(f"no {variant.replace('_', ' ')} for user {user.user_id!r}")
            return truncate_tokens(profile.strip(), self.tokenizer, self.context_tokens, keep="head")
        lines = [f"- {self.task.render(item)}" for item in user.items]
        if variant == "recent_history":
            recent = lines[-self.history_items :] if self.history_items > 0 else []
            return truncate_tokens("\n".join(recent), self.tokenizer, self.context_tokens, keep="tail")
        if variant == "retrieved_history":
            ranked = [lines[index] for index in rank_by_bm25(question.input, lines)]
            return truncate_tokens("\n".join(ranked), self.tokenizer, self.context_tokens, keep="head")
        raise ValueError(f"unknown downstream variant {variant!r}; expected one of {(*VARIANTS, *OPTIONAL_VARIANTS)}")

    def __call__(self, variant: Variant, user: UserHistory, question: LampExample, profile: str | None) -> str:
        """The full model-facing prompt of ``question`` under ``variant``."""
        text = truncate_tokens(question.input.strip(), self.tokenizer, self.max_question_tokens, keep="head")
        context = self.context(variant, user, question, profile)
        if context is not None:
            text = f"{_LABELS[variant]}:\n{context}\n\n{text}"
        return format_for_model(text, self.tokenizer, self.architecture)
