"""Prompt building, token-budget fitting (most recent items kept)."""

from __future__ import annotations

import pytest

from bump_pl.data.prompts import ProfilePrompt, build_prompt, encode_prompt, fit_context
from bump_pl.models.tiny import tiny_tokenizer


class _ChatTokenizer:
    """A stand-in tokenizer with a chat template: one token per character, templating by hand."""

    chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}<assistant>"
    bos_token_id = 7

    def apply_chat_template(self, messages: list[dict[str, str]], tokenize: bool, add_generation_prompt: bool) -> str:
        assert not tokenize and add_generation_prompt
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"

    def __call__(self, text: str, add_special_tokens: bool) -> dict[str, list[int]]:
        return {"input_ids": [ord(c) for c in text]}


def test_plain_prompt_has_history_in_order_and_bos_free_byte_ids() -> None:
    tokenizer = tiny_tokenizer()
    prompt = build_prompt(["old item", "new item"], tokenizer)
    assert prompt.index("- old item") < prompt.index("- new item") and prompt.endswith("Profile:")
    # ByT5: no BOS; bytes map to id + 3; no EOS appended
    assert encode_prompt("ab", tokenizer) == [ord("a") + 3, ord("b") + 3]


def test_chat_template_is_used_without_extra_bos() -> None:
    tokenizer = _ChatTokenizer()
    prompt = build_prompt(["x"], tokenizer)
    assert prompt.startswith("<system>You write short user profiles.") and prompt.endswith("<assistant>")
    assert "<user>User history, oldest first:\n- x\n" in prompt
    assert encode_prompt(prompt, tokenizer) == [ord(c) for c in prompt]


def test_fit_context_keeps_the_most_recent_items_that_fit() -> None:
    tokenizer = tiny_tokenizer()
    items = [f"item number {i:02d}" for i in range(20)]
    per_item = len(encode_prompt(build_prompt(items[:2], tokenizer), tokenizer)) - len(
        encode_prompt(build_prompt(items[:1], tokenizer), tokenizer))
    one = len(encode_prompt(build_prompt(items[:1], tokenizer), tokenizer))
    budget = one + 4 * per_item  # exactly 5 items fit
    kept, prompt, ids = fit_context(items, tokenizer, budget)
    assert kept == items[-5:] and len(ids) == budget and ids == encode_prompt(prompt, tokenizer)
    kept, _, ids = fit_context(items, tokenizer, budget - 1)
    assert kept == items[-4:] and len(ids) < budget
    assert fit_context(items, tokenizer, None)[0] == items


def test_a_single_too_long_item_is_cut_to_fit() -> None:
    tokenizer = tiny_tokenizer()
    long_item = " ".join(f"w{i}" for i in range(300))
    budget = len(encode_prompt(build_prompt([], tokenizer), tokenizer)) + 60
    kept, _, ids = fit_context(["short", long_item], tokenizer, budget)
    assert len(ids) <= budget and len(kept) == 1 and kept[0].startswith("w0 w1 w2") and kept[0].endswith(" ...")


def test_a_configured_profile_prompt_replaces_both_messages_and_the_budget_counts_it() -> None:
    asked = ProfilePrompt(system="SYS: rate tendencies.", instruction="List genres and rating habits.")
    chat = build_prompt(["x"], _ChatTokenizer(), asked)
    assert chat == "<system>SYS: rate tendencies.<user>User history, oldest first:\n- x\n\nList genres and rating habits.<assistant>"
    plain = build_prompt(["x"], tiny_tokenizer(), asked)
    assert plain.startswith("SYS: rate tendencies.") and "List genres and rating habits.\n\nProfile:" in plain
    assert "You write short user profiles" not in chat + plain
    tokenizer, items = tiny_tokenizer(), [f"item {i}" for i in range(20)]
    longer = ProfilePrompt(instruction=ProfilePrompt().instruction + " Be specific.")
    budget = len(encode_prompt(build_prompt(items[-5:], tokenizer), tokenizer))
    assert len(fit_context(items, tokenizer, budget)[0]) == 5
    kept, _, ids = fit_context(items, tokenizer, budget, longer)
    assert len(kept) < 5 and len(ids) <= budget  # a longer request leaves room for fewer items


def test_a_response_start_ends_both_prompts_and_trailing_whitespace_is_refused() -> None:
    started = ProfilePrompt(system="s", instruction="i", response_start="Average rating:")
    assert build_prompt(["x"], _ChatTokenizer(), started).endswith("i<assistant>Average rating:")
    assert build_prompt(["x"], tiny_tokenizer(), started).endswith("i\n\nProfile: Average rating:")
    assert build_prompt(["x"], tiny_tokenizer(), ProfilePrompt(system="s", instruction="i")).endswith("Profile:")
    with pytest.raises(ValueError, match="ends with whitespace"):
        ProfilePrompt(response_start="Average rating: ")
