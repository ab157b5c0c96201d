"""The generator's prompt: a request for a short profile, built from a user's context items.

With a chat template the prompt is a system + user message rendered by the tokenizer (generation
prompt appended); without one it is plain text ending in ``"Profile:"``. Either may end with the
start of the answer (``response_start``), which the generator continues. ``fit_context`` keeps the
most recent items whose prompt fits a token budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProfilePrompt:
    """What the generator is asked to write (``--model.profile_prompt.*``; the data module follows it).

    Attributes:
        system: the system message (the first paragraph of a plain-text prompt).
        instruction: the request after the user's history.
        response_start: the words every profile begins with (empty: none), e.g. ``"Average rating
            given, out of 5:"``. They end the prompt, so the generator continues them and is never
            trained on them; a profile is this text, one space, then what the generator wrote
            (:class:`~bump_pl.models.generator.ProfileGenerator`). It makes a small generator state
            what it would otherwise leave out.
    """

    system: str = (
        "You write short user profiles. Given a user's history, describe the user's preferences, "
        "interests and writing style in a few sentences of plain text."
    )
    instruction: str = "Write a short profile of this user's preferences and style, based only on the history above."
    response_start: str = ""

    def __post_init__(self) -> None:
        if self.response_start != self.response_start.rstrip():
            raise ValueError(
                f"profile_prompt.response_start {self.response_start!r} ends with whitespace: end it with a word"
                " or a colon (the generator writes the space itself, as its tokenizer expects)"
            )


def _history_block(context: list[str]) -> str:
    lines = "\n".join(f"- {item}" for item in context) if context else "(no history)"
    return f"User history, oldest first:\n{lines}"


def build_prompt(context: list[str], tokenizer: Any, prompt: ProfilePrompt = ProfilePrompt()) -> str:
    """The prompt text for one user's rendered context items (most recent last), ending with
    ``prompt.response_start`` when it is set."""
    user_message = f"{_history_block(context)}\n\n{prompt.instruction}"
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": user_message}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + prompt.response_start
    return f"{prompt.system}\n\n{user_message}\n\nProfile:" + (f" {prompt.response_start}" if prompt.response_start else "")


def encode_prompt(prompt: str, tokenizer: Any) -> list[int]:
    """Token ids of a prompt: a chat-templated prompt as is; plain text with the BOS token prepended.

    No EOS is appended (the generator continues the prompt).
    """
    ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    if not getattr(tokenizer, "chat_template", None) and getattr(tokenizer, "bos_token_id", None) is not None:
        ids = [tokenizer.bos_token_id, *ids]
    return ids


def _truncate_words(text: str, words: int) -> str:
    return " ".join(text.split()[:words]) + " ..."


def fit_context(
    context: list[str], tokenizer: Any, max_tokens: int | None, prompt: ProfilePrompt = ProfilePrompt()
) -> tuple[list[str], str, list[int]]:
    """The most recent context items whose prompt has at most ``max_tokens`` tokens.

    Returns ``(kept items, prompt, token ids)``. If not even the most recent item fits alone, it is
    cut to as many leading words as fit (a prompt without history would be useless).

    Raises:
        ValueError: the prompt without any history already exceeds ``max_tokens``.
    """

    def encode(items: list[str]) -> tuple[str, list[int]]:
        text = build_prompt(items, tokenizer, prompt)
        return text, encode_prompt(text, tokenizer)

    text, ids = encode(context)
    if max_tokens is None or len(ids) <= max_tokens:
        return list(context), text, ids
    low, high = 0, len(context)  # invariant: the last `low` items fit, the last `high` do not
    while high - low > 1:
        middle = (low + high) // 2
        if len(encode(context[-middle:])[1]) <= max_tokens:
            low = middle
        else:
            high = middle
    if low > 0:
        kept = list(context[-low:])
        return (kept, *encode(kept))
    if len(encode([])[1]) > max_tokens:
        raise ValueError(f"max_prompt_tokens={max_tokens} is too small: the prompt without history does not fit")
    last = context[-1]
    low, high = 0, len(last.split())  # words of the most recent item
    while high - low > 1:
        middle = (low + high) // 2
        if len(encode([_truncate_words(last, middle)])[1]) <= max_tokens:
            low = middle
        else:
            high = middle
    kept = [_truncate_words(last, low)] if low > 0 else []
    return (kept, *encode(kept))
