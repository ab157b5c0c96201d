"""Cross-judge prompts as token pieces, so the query part is a strict token prefix of every pair.

A template is the user message with exactly one ``{query}`` and one ``{candidate}`` (literal
markers, not ``str.format``: other braces are kept as they are), query first. When the tokenizer
has a chat template the message is rendered with it (``add_generation_prompt=True``, so the
answer is the assistant's first token); the rendered text is then cut at the two markers into
``head``, ``middle`` and ``tail``, and each piece and each text is tokenized on its own (no
special tokens added; the chat template writes its own). A pair is::

    prefix       = head + query_ids + middle      (shared by all candidates of the query)
    continuation = candidate_ids + tail           (its last token is the answer position)

Tokenizing the pieces separately can tokenize a boundary differently from tokenizing the whole
text at once, which is why the default templates put newlines around the markers; both the
shared and the naive path use exactly these ids, so they agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

QUERY, CANDIDATE = "{query}", "{candidate}"


@dataclass(frozen=True)
class PromptPieces:
    """Token ids of a template around its two markers."""

    head: list[int]
    middle: list[int]
    tail: list[int]

    def prefix(self, query_ids: list[int]) -> list[int]:
        """``head + query + middle``: the part shared by every candidate of the query."""
        return self.head + query_ids + self.middle

    def continuation(self, candidate_ids: list[int]) -> list[int]:
        """``candidate + tail``; never empty because ``tail`` is not (see :func:`prompt_pieces`)."""
        return candidate_ids + self.tail


def prompt_pieces(template: str, tokenizer: PreTrainedTokenizerBase, use_chat_template: bool, name: str) -> PromptPieces:
    """Render ``template`` (chat template if asked and available) and tokenize its three pieces.

    Args:
        template: user message with one ``{query}`` and, after it, one ``{candidate}``.
        name: the constructor argument holding ``template``, for error messages.

    Raises:
        ValueError: markers missing, repeated or out of order; nothing after ``{candidate}`` (the
            question must follow the candidate so the answer position is in the continuation); or
            no text before ``{candidate}`` other than the query (an empty query would leave an
            empty prefix).
    """
    if template.count(QUERY) != 1 or template.count(CANDIDATE) != 1:
        raise ValueError(f"CrossJudge: {name} must contain {QUERY} and {CANDIDATE} exactly once each: {template!r}")
    if template.index(QUERY) > template.index(CANDIDATE):
        raise ValueError(f"CrossJudge: {name} must put {QUERY} before {CANDIDATE} (the query is the shared prefix)")
    if not template.split(CANDIDATE)[1].strip():
        raise ValueError(f"CrossJudge: {name} needs the question after {CANDIDATE}: {template!r}")
    rendered = template
    if use_chat_template and getattr(tokenizer, "chat_template", None):
        messages = [{"role": "user", "content": template}]
        rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if rendered.count(QUERY) != 1 or rendered.count(CANDIDATE) != 1:
            raise ValueError(f"CrossJudge: the tokenizer's chat template altered the markers of {name}: {rendered!r}")
    head, rest = rendered.split(QUERY)
    middle, tail = rest.split(CANDIDATE)

    def ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    pieces = PromptPieces(head=ids(head), middle=ids(middle), tail=ids(tail))
    if not (pieces.head or pieces.middle):
        raise ValueError(f"CrossJudge: {name} needs some text around {QUERY} so that no prefix is empty: {template!r}")
    return pieces


def first_token_id(tokenizer: PreTrainedTokenizerBase, word: str, name: str) -> int:
    """The first token of ``word`` tokenized as given (no special tokens); ``name`` is the argument."""
    ids = tokenizer(word, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError(f"CrossJudge: {name}={word!r} tokenizes to no tokens")
    return int(ids[0])
