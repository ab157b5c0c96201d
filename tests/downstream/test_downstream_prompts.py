"""Downstream prompts: token budgets, what each variant puts before the question, plain vs chat format."""

from __future__ import annotations

from pathlib import Path

import pytest

from bump_pl.downstream.prompts import PromptBuilder, format_for_model, truncate_tokens
from bump_pl.data import LampExample, UserHistory, get_task
from bump_pl.models.tiny import tiny_tokenizer


def _user() -> UserHistory:
    items = [{"id": str(i), "text": f"review number {i}", "score": str(1 + i % 5)} for i in range(6)]
    return UserHistory("u1", items, [LampExample("q1", "u1", "Rate this review: fine kettle", "4", items)])


def _builder(context_tokens: int = 200, history_items: int = 3) -> PromptBuilder:
    return PromptBuilder(get_task("LaMP_3"), tiny_tokenizer(), "causal", context_tokens, history_items, 200)


def test_truncate_tokens_keeps_head_or_tail() -> None:
    tokenizer = tiny_tokenizer()  # byte level: one ASCII character is one token
    assert truncate_tokens("abcdefgh", tokenizer, 3, keep="head") == "abc"
    assert truncate_tokens("abcdefgh", tokenizer, 3, keep="tail") == "fgh"
    assert truncate_tokens("abc", tokenizer, 3, keep="head") == "abc"
    assert truncate_tokens("abc", tokenizer, 0, keep="tail") == ""


def test_variants_put_profile_history_or_nothing_before_the_question() -> None:
    user, builder = _user(), _builder()
    question = user.questions[0]
    profile = "Loves sturdy kettles; rates generously."
    with_profile = builder("profile", user, question, profile)
    alone = builder("no_profile", user, question, profile)
    history = builder("recent_history", user, question, profile)

    assert alone == "Rate this review: fine kettle\nAnswer:"
    assert with_profile == f"User profile:\n{profile}\n\nRate this review: fine kettle\nAnswer:"
    assert profile not in alone and profile not in history
    # the 3 most recent items, oldest first, rendered by the task; older ones left out
    assert "- text: review number 3; score: 4\n- text: review number 4; score: 5\n- text: review number 5; score: 1" in history
    assert "review number 2" not in history


def test_profile_and_history_share_one_token_budget() -> None:
    user, builder = _user(), _builder(context_tokens=20, history_items=6)
    question = user.questions[0]
    assert builder.context("profile", user, question, "x" * 50) == "x" * 20
    history = builder.context("recent_history", user, question, None)
    assert len(history) == 20 and history.endswith("number 5; score: 1")  # the most recent tail
    retrieved = builder.context("retrieved_history", user, question, None)
    assert len(retrieved) == 20 and retrieved.startswith("- ")  # the head: the best-ranked item first
    assert builder.context("no_profile", user, question, "p") is None
    with pytest.raises(ValueError, match="no profile for user 'u1'"):
        builder("profile", user, question, None)
    with pytest.raises(ValueError, match="unknown downstream variant"):
        builder.context("other", user, question, "p")  # type: ignore[arg-type]


def test_retrieved_history_puts_the_item_about_the_question_first() -> None:
    items = [
        {"id": "1", "title": "Alien (1979)", "genres": "Horror, Sci-Fi", "score": "5"},
        {"id": "2", "title": "Notting Hill (1999)", "genres": "Comedy, Romance", "score": "2"},
        {"id": "3", "title": "Heat (1995)", "genres": "Action, Crime", "score": "4"},
    ]
    question = LampExample("q", "u", "What score for movie: Aliens (1986) (genres: Horror, Sci-Fi)?", "5", items)
    user = UserHistory("u", items, [question])
    builder = PromptBuilder(get_task("MovieLens_rating"), tiny_tokenizer(), "causal", 500, 1, 500)
    lines = builder.context("retrieved_history", user, question, None).splitlines()
    assert lines[0] == "- title: Alien (1979); genres: Horror, Sci-Fi; score: 5" and len(lines) == 3
    assert lines[1:] == ["- title: Heat (1995); genres: Action, Crime; score: 4",  # no shared term: most recent first
                         "- title: Notting Hill (1999); genres: Comedy, Romance; score: 2"]


def test_format_for_model_uses_the_chat_template_of_a_causal_lm(tmp_path: Path) -> None:
    tokenizer = tiny_tokenizer()
    assert format_for_model("Q?", tokenizer, "seq2seq") == "Q?"
    assert format_for_model("Q?", tokenizer, "causal") == "Q?\nAnswer:"
    tokenizer.chat_template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
    assert format_for_model("Q?", tokenizer, "causal") == "<user>Q?<assistant>"
