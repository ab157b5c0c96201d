"""Judges own a frozen model: eval mode, no grad, unchanged by scoring, movable, plain-typed config."""

import pytest
import torch

from bump_pl.judges import CrossJudge, EmbeddingJudge

PROFILES = ["likes sci-fi and long novels", "cooks vegan food", ""]
ITEMS = ["Dune", "a lentil curry recipe"]


def _build(kind, encoder, llama, tokenizer):
    if kind == "embedding":
        return EmbeddingJudge(encoder, tokenizer=tokenizer), encoder
    return CrossJudge(llama, tokenizer=tokenizer), llama


@pytest.mark.parametrize("kind", ["embedding", "cross"])
def test_judges_are_frozen_and_scoring_changes_nothing(kind, encoder, llama, tokenizer):
    judge, model = _build(kind, encoder, llama, tokenizer)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    with torch.enable_grad():
        scores = judge.score(PROFILES, ITEMS, "profile_to_item")
    assert not model.training
    assert all(not p.requires_grad for p in model.parameters())
    assert not scores.requires_grad and scores.dtype == torch.float32 and scores.shape == (3, 2)
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]), name
    # the scores are ordinary tensors: they can enter a graph (e.g. the reward) outside inference mode
    weight = torch.ones(2, requires_grad=True)
    (scores * weight).sum().backward()
    torch.testing.assert_close(weight.grad, scores.sum(0))


@pytest.mark.parametrize("kind", ["embedding", "cross"])
def test_to_moves_the_model_and_returns_the_judge(kind, encoder, llama, tokenizer):
    judge, _ = _build(kind, encoder, llama, tokenizer)
    assert judge.to("meta") is judge
    assert judge.device == torch.device("meta")


def test_dtype_is_applied_and_checked(encoder, tokenizer):
    judge = EmbeddingJudge(encoder, tokenizer=tokenizer, dtype="bfloat16")
    assert next(judge.model.parameters()).dtype == torch.bfloat16
    assert judge.score(["a"], ["b"], "profile_to_item").dtype == torch.float32
    with pytest.raises(ValueError, match="dtype must be one of"):
        EmbeddingJudge(encoder, tokenizer=tokenizer, dtype="fp8")


def test_model_object_without_tokenizer_is_a_clear_error(encoder):
    with pytest.raises(ValueError, match="pass `tokenizer` together with a loaded model"):
        EmbeddingJudge(encoder)
    with pytest.raises(TypeError, match="model must be a name/path or a loaded model, got int"):
        EmbeddingJudge(3)


def test_named_models_are_loaded_with_the_right_loader_and_frozen():
    encoder_judge = EmbeddingJudge("tiny-random-encoder")
    assert type(encoder_judge.model).__name__ == "BertModel"
    causal_as_encoder = EmbeddingJudge("tiny-random-llama", pooling="last")  # "auto" kind: a causal LM
    assert type(causal_as_encoder.model).__name__ == "LlamaForCausalLM"
    cross = CrossJudge("tiny-random-llama")
    for judge in (encoder_judge, causal_as_encoder, cross):
        assert all(not p.requires_grad for p in judge.model.parameters()) and not judge.model.training
        assert torch.isfinite(judge.score(["a profile"], ["an item", ""], "profile_to_item")).all()
    with pytest.raises(ValueError, match="model kind must be"):
        EmbeddingJudge("tiny-random-encoder", model_kind="decoder")
