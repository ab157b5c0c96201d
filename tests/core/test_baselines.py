"""history_text: the full variant is the joined context; the budget variant keeps the most recent tokens within budget."""

import pytest

from bump_pl.core.baselines import history_text
from bump_pl.models.tiny import tiny_tokenizer

CONTEXT = ["liked the quiet kettle", "returned a loud blender", "bought bread flour twice"]


def test_full_history_is_the_joined_context():
    assert history_text(CONTEXT, tiny_tokenizer()) == "liked the quiet kettle\nreturned a loud blender\nbought bread flour twice"


def test_budget_keeps_the_most_recent_tokens_within_budget():
    tokenizer = tiny_tokenizer()  # byte-level: one token per character
    cut = history_text(CONTEXT, tokenizer, max_new_tokens=10)
    assert cut == "lour twice"  # the last 10 bytes
    assert len(tokenizer(cut, add_special_tokens=False)["input_ids"]) <= 10
    full = history_text(CONTEXT, tokenizer)
    assert history_text(CONTEXT, tokenizer, max_new_tokens=len(full)) == full  # a budget that fits keeps it all


def test_bad_budget_is_refused():
    with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
        history_text(CONTEXT, tiny_tokenizer(), max_new_tokens=0)
