"""The Judge protocol and the shared input checks."""

import pytest

from bump_pl.judges import CrossJudge, EmbeddingJudge, Judge
from bump_pl.judges.base import check_score_inputs


def test_both_judges_satisfy_the_protocol(encoder, llama, tokenizer):
    assert isinstance(EmbeddingJudge(encoder, tokenizer=tokenizer), Judge)
    assert isinstance(CrossJudge(llama, tokenizer=tokenizer), Judge)


@pytest.mark.parametrize(
    ("queries", "candidates", "direction", "error", "message"),
    [
        (["a"], ["b"], "profile->item", ValueError, "direction must be one of"),
        ("abc", ["b"], "profile_to_item", TypeError, "queries must be a list of str, got str"),
        (["a"], ["b", 3], "item_to_profile", TypeError, r"candidates\[1\] is int, expected str"),
    ],
)
def test_bad_inputs_raise_one_clear_error(queries, candidates, direction, error, message):
    with pytest.raises(error, match=message):
        check_score_inputs("SomeJudge", queries, candidates, direction)
