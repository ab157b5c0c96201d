"""CrossJudge: shared-prefix path == naive path == a hand-built forward, in both directions."""

import pytest
import torch

from bump_pl.judges import CrossJudge
from bump_pl.judges.cross import ITEM_TO_PROFILE_PROMPT, PROFILE_TO_ITEM_PROMPT

# queries and candidates of very different lengths, including empty ones
PROFILES = ["enjoys slow-paced drama films and documentaries " * 3, "p", "", "likes action"]
ITEMS = ["Titanic", "a long review of a nature documentary about whales", "", "x", "Die Hard", "Up", "Heat"]
CHAT = "{% for m in messages %}<user>{{ m['content'] }}</user>{% endfor %}{% if add_generation_prompt %}<bot>{% endif %}"


def _hand_score(model, tokenizer, template: str, query: str, candidate: str) -> float:
    """One unpadded forward over the filled-in template (ByT5 is byte-level, so pieces == whole)."""
    text = template.replace("{query}", query).replace("{candidate}", candidate)
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, -1]
    yes, no = tokenizer("Yes", add_special_tokens=False)["input_ids"][0], tokenizer("No", add_special_tokens=False)["input_ids"][0]
    return (logits[yes] - logits[no]).item()


@pytest.mark.parametrize("direction", ["profile_to_item", "item_to_profile"])
def test_shared_prefix_scores_equal_naive_scores(llama, tokenizer, direction):
    shared = CrossJudge(llama, tokenizer=tokenizer, batch_size=3, max_pairs_per_chunk=5)
    naive = CrossJudge(llama, tokenizer=tokenizer, share_prefix=False, max_pairs_per_chunk=4)
    queries, candidates = (PROFILES, ITEMS) if direction == "profile_to_item" else (ITEMS, PROFILES)
    fast = shared.score(queries, candidates, direction)
    assert fast.shape == (len(queries), len(candidates))
    assert torch.isfinite(fast).all()
    assert fast.std() > 1e-3  # not a constant matrix
    torch.testing.assert_close(fast, naive.score(queries, candidates, direction), atol=1e-4, rtol=0)


def test_scores_equal_a_hand_built_forward_in_both_directions(llama, tokenizer):
    judge = CrossJudge(llama, tokenizer=tokenizer, max_pairs_per_chunk=3)
    forward = judge.score(PROFILES[:2], ITEMS[:3], "profile_to_item")
    backward = judge.score(ITEMS[:3], PROFILES[:2], "item_to_profile")
    for q, profile in enumerate(PROFILES[:2]):
        for c, item in enumerate(ITEMS[:3]):
            expected = _hand_score(llama, tokenizer, PROFILE_TO_ITEM_PROMPT, profile, item)
            assert forward[q, c].item() == pytest.approx(expected, abs=1e-4)
            expected = _hand_score(llama, tokenizer, ITEM_TO_PROFILE_PROMPT, item, profile)
            assert backward[c, q].item() == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("share_prefix", [True, False])
def test_chunk_sizes_do_not_change_scores(llama, tokenizer, share_prefix):
    small = CrossJudge(llama, tokenizer=tokenizer, share_prefix=share_prefix, batch_size=1, max_pairs_per_chunk=1)
    reference = small.score(PROFILES, ITEMS, "profile_to_item")
    small.batch_size, small.max_pairs_per_chunk = 16, 100
    torch.testing.assert_close(small.score(PROFILES, ITEMS, "profile_to_item"), reference, atol=1e-4, rtol=0)


def test_chat_template_wraps_the_prompt_and_keeps_the_query_a_prefix(llama, tokenizer):
    tokenizer.chat_template = CHAT
    judge = CrossJudge(llama, tokenizer=tokenizer, profile_to_item_prompt="Profile:\n{query}\nItem:\n{candidate}\nSame user?")
    pieces = judge.prompts["profile_to_item"]
    assert tokenizer.decode(pieces.head) == "<user>Profile:\n"
    assert tokenizer.decode(pieces.tail) == "\nSame user?</user><bot>"
    scores = judge.score(["likes jazz"], ["Kind of Blue", ""], "profile_to_item")
    expected = _hand_score(llama, tokenizer, "<user>Profile:\n{query}\nItem:\n{candidate}\nSame user?</user><bot>", "likes jazz", "")
    assert scores[0, 1].item() == pytest.approx(expected, abs=1e-4)
    plain = CrossJudge(llama, tokenizer=tokenizer, use_chat_template=False)
    assert tokenizer.decode(plain.prompts["profile_to_item"].head) == PROFILE_TO_ITEM_PROMPT.split("{query}")[0]


def test_long_texts_are_truncated_to_max_length(llama, tokenizer):
    judge = CrossJudge(llama, tokenizer=tokenizer, max_length=5)
    scores = judge.score(["abcdefgh", "abcde"], ["vwxyz123", "vwxyz"], "profile_to_item")
    torch.testing.assert_close(scores[0], scores[1])
    torch.testing.assert_close(scores[:, 0], scores[:, 1])


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("no markers", "exactly once"),
        ("{candidate} then {query}?", "before"),
        ("{query} and {candidate}", "question after"),
        ("{query}{candidate} ok?", "no prefix is empty"),
    ],
)
def test_bad_templates_are_clear_errors(llama, tokenizer, template, message):
    with pytest.raises(ValueError, match=message) as error:
        CrossJudge(llama, tokenizer=tokenizer, item_to_profile_prompt=template)
    assert "item_to_profile_prompt" in str(error.value)


def test_yes_and_no_must_differ(llama, tokenizer):
    with pytest.raises(ValueError, match="start with the same token"):
        CrossJudge(llama, tokenizer=tokenizer, yes_word="Yes", no_word="Yep")


@pytest.mark.parametrize("share_prefix", [True, False])
def test_score_sets_equal_score_on_each_querys_own_candidates(llama, tokenizer, share_prefix):
    """Hybrid negatives: each query reads only its chosen candidates (rows of a forward pack different
    ones, in several packs of different counts); unchosen pairs are 0 and unread candidates may be None."""
    judge = CrossJudge(llama, tokenizer=tokenizer, share_prefix=share_prefix, batch_size=2, max_pairs_per_chunk=4,
                       pack_tokens=40)
    queries = ["likes long hikes", "reads poetry at night", "cooks", "plays chess online"]
    candidates = ["mountain boots", "a poem", "pasta", "chess clock", "rain jacket", "unused"]
    scored = torch.tensor([[1, 1, 0, 0, 1, 0], [0, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0], [0, 0, 0, 1, 0, 0]], dtype=torch.bool)
    full = judge.score(queries, candidates[:5], "item_to_profile")
    got = judge.score_sets(queries, candidates[:5] + [None], scored, "item_to_profile")
    torch.testing.assert_close(got[:, :5][scored[:, :5]], full[scored[:, :5]], atol=1e-4, rtol=1e-4)
    assert bool((got[~scored] == 0).all())
