"""Rank classification: option log-likelihoods equal a naive forward per (prompt, option), answers read
off them (argmax, expected rating), their place in run_downstream's records and in the report."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import T5Config, T5ForConditionalGeneration

from bump_pl.data import get_task
from bump_pl.data.tasks import LAMP2_TAGS
from bump_pl.downstream.inputs import read_split
from bump_pl.downstream.model import add_lora, generate_answers, sft
from bump_pl.downstream.options import label_options, option_logprobs, rank_predictions
from bump_pl.downstream.prompts import BASELINES, VARIANTS, format_for_model
from bump_pl.downstream.report import summarize
from bump_pl.downstream.result import DownstreamResult, RankClassification
from bump_pl.downstream.run import Questions, run_downstream
from bump_pl.downstream.settings import DownstreamSettings
from bump_pl.metrics.lamp import evaluate_lamp
from bump_pl.models.lora import LoraSettings
from bump_pl.models.tiny import tiny_random_llama, tiny_tokenizer

EOS = 1  # ByT5: id = byte + 3, pad 0, eos 1
#: 6 to 16 tokens each; "comedy" is the tail of "dark comedy", which shares its first letter with "dystopia".
OPTIONS = ("sci-fi", "comedy", "dark comedy", "dystopia", "based on a book")
QUESTIONS = ["short", "a much longer question here", "mid size"]
CHAT = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"


def _bytes(text: str) -> list[int]:
    return [byte + 3 for byte in text.encode()]


def _model(architecture: str, lora: bool) -> torch.nn.Module:
    """A tiny causal or seq2seq model; with ``lora`` an adapter whose random ``B`` changes every output."""
    if architecture == "causal":
        model = tiny_random_llama(seed=1)
    else:
        config = T5Config(vocab_size=384, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=2,
                          decoder_start_token_id=0, pad_token_id=0, eos_token_id=EOS)
        torch.manual_seed(0)
        model = T5ForConditionalGeneration(config)
    if lora:
        model = add_lora(model, LoraSettings(rank=4, alpha=8.0, dropout=0.0), architecture)
        torch.manual_seed(1)
        for name, param in model.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(param, std=0.5)
    return model.eval()


@torch.no_grad()
def _naive(model: torch.nn.Module, architecture: str, chat: bool, prompt: str, option: str) -> float:
    """``log p(option)`` from one unbatched forward, the tokens spelled out by hand from the bytes."""
    if architecture == "seq2seq":  # encoder input and target each end with EOS, as the T5 tokenizer encodes them
        answer = _bytes(option) + [EOS]
        logits = model(input_ids=torch.tensor([_bytes(prompt) + [EOS]]), labels=torch.tensor([answer])).logits[0]
    else:  # after a plain "Answer:" the answer starts with a space; after a chat template it does not
        answer = _bytes(option if chat else f" {option}") + [EOS]
        ids = _bytes(prompt) + answer
        logits = model(input_ids=torch.tensor([ids])).logits[0, len(ids) - len(answer) - 1 : -1]
    return logits.log_softmax(-1)[torch.arange(len(answer)), answer].sum().item()


@pytest.mark.parametrize(
    ("architecture", "chat", "lora"),
    [("causal", False, False), ("causal", True, False), ("causal", False, True), ("seq2seq", False, False), ("seq2seq", False, True)],
)
def test_option_logprobs_equal_one_forward_per_prompt_and_option(architecture: str, chat: bool, lora: bool) -> None:
    tokenizer, model = tiny_tokenizer(), _model(architecture, lora)
    tokenizer.chat_template = CHAT if chat else None
    tokenizer.padding_side = "left" if architecture == "causal" else "right"  # as load_backbone_tokenizer sets it
    prompts = [format_for_model(question, tokenizer, architecture) for question in QUESTIONS]
    scores = option_logprobs(model, tokenizer, architecture, prompts, OPTIONS, batch_size=2)  # batches of 2 and 1
    expected = torch.tensor([[_naive(model, architecture, chat, prompt, option) for option in OPTIONS] for prompt in prompts])
    assert scores.shape == (len(QUESTIONS), len(OPTIONS)) and scores.dtype == torch.float32
    torch.testing.assert_close(scores, expected, rtol=0, atol=1e-4)


def test_expected_rating_and_argmax_from_given_probabilities() -> None:
    probabilities = torch.tensor([[0.1, 0.2, 0.3, 0.2, 0.2], [0.0, 0.0, 0.0, 0.5, 0.5], [0.2] * 5])
    logprobs = probabilities.log() + torch.tensor([[-7.0], [3.0], [0.0]])  # the softmax ignores a shift per question
    predictions = rank_predictions(logprobs, "LaMP_3")
    by_hand = [1 * 0.1 + 2 * 0.2 + 3 * 0.3 + 4 * 0.2 + 5 * 0.2, 4 * 0.5 + 5 * 0.5, 3.0]
    assert [float(text) for text in predictions["expected"]] == pytest.approx(by_hand, abs=1e-6)
    assert predictions["argmax"] == ["3", "4", "1"]  # a tie goes to the first option
    golds = {"a": "3", "b": "5", "c": "1"}
    official = evaluate_lamp("LaMP_3", dict(zip(golds, predictions["expected"])), golds)  # parses the float texts
    assert official["MAE"] == pytest.approx((0.2 + 0.5 + 2.0) / 3, abs=1e-6)

    assert list(rank_predictions(torch.randn(2, len(LAMP2_TAGS)), "lamp-2")) == ["argmax"]  # classification: no mean
    assert label_options("LaMP_1") == ("[1]", "[2]") and label_options("LaMP_4") is None
    with pytest.raises(ValueError, match=r"LaMP_1 has 2 label options, the scores \[Q, K\] have K = 5"):
        rank_predictions(logprobs, "LaMP_1")


def test_a_model_trained_to_answer_one_multi_token_label_ranks_it_first() -> None:
    tokenizer, model = tiny_tokenizer(), tiny_random_llama(seed=0)
    train = [f"movie {i}\nAnswer:" for i in range(2)]
    sft(model, tokenizer, "causal", train, ["dark comedy"] * 2, epochs=80, batch_size=2, lr=1e-2, seed=0)
    prompts = [train[0], "movie 9\nAnswer:", "something else\nAnswer:"]
    scores = option_logprobs(model, tokenizer, "causal", prompts, LAMP2_TAGS, batch_size=2)
    # every later letter counts: "dystopia" shares the first letter, "comedy" is the tail
    assert rank_predictions(scores, "LaMP_2")["argmax"] == ["dark comedy"] * 3
    assert bool((scores.softmax(-1)[:, LAMP2_TAGS.index("dark comedy")] > 0.9).all())
    assert generate_answers(model, tokenizer, "causal", train[:1], max_answer_tokens=16, batch_size=1) == ["dark comedy"]


def test_every_variant_gets_graded_rank_answers_in_its_records_and_the_report(lamp3_dir: Path) -> None:
    task = get_task("LaMP_3")
    users = read_split(lamp3_dir, "dev", task)
    profiles = {(user.user_id, "dev"): f"rates {user.user_id} around 2" for user in users}
    evaluation = Questions.of(users, "dev", None)
    settings = DownstreamSettings(
        backbone="tiny-random-llama", mode="zero_shot", max_answer_tokens=2, context_tokens=32, eval_batch_size=4
    )
    results = run_downstream(settings, task, profiles, None, evaluation)

    rank = results.rank_classification
    assert rank.metric_task == "LaMP_3" and rank.options == ["1", "2", "3", "4", "5"]
    assert list(rank.predictions) == ["argmax", "expected"]
    for variant in VARIANTS:
        records = [record for record in results.records if record["variant"] == variant]
        for position, record in enumerate(records):
            scores = torch.tensor([record["option_logprobs"][option] for option in rank.options])
            assert record["prediction@argmax"] == rank.options[int(scores.argmax())] == rank.predictions["argmax"][variant][position]
            by_hand = sum(p * r for p, r in zip(scores.double().softmax(-1).tolist(), range(1, 6)))
            assert float(record["prediction@expected"]) == pytest.approx(by_hand, abs=1e-9)
            assert record["prediction@expected"] == rank.predictions["expected"][variant][position]
        assert len(set(rank.predictions["expected"][variant])) == len(records) > 1  # graded, question by question
    profile_scores = [r["option_logprobs"] for r in results.records if r["variant"] == "profile"]
    assert profile_scores != [r["option_logprobs"] for r in results.records if r["variant"] == "no_profile"]

    summary = summarize(results, "LaMP_3", evaluation.answers, samples=50)
    assert all(set(summary["metrics"][variant]) == {"MAE", "RMSE"} for variant in VARIANTS)  # generated answers as before
    ranked = summary["rank_classification"]
    assert ranked["kinds"] == ["argmax", "expected"]
    for variant in VARIANTS:
        assert list(ranked["metrics"][variant]) == ["MAE@argmax", "RMSE@argmax", "MAE@expected", "RMSE@expected"]
        for kind in ranked["kinds"]:
            answers = dict(zip(results.eval_ids, rank.predictions[kind][variant]))
            official = evaluate_lamp("LaMP_3", answers, evaluation.golds)
            for name in ("MAE", "RMSE"):
                interval = ranked["metrics"][variant][f"{name}@{kind}"]
                assert interval["value"] == pytest.approx(official[name]) and interval["low"] <= interval["value"] <= interval["high"]
    for baseline in BASELINES:
        for name, interval in ranked["differences"][f"profile - {baseline}"].items():
            expected = ranked["metrics"]["profile"][name]["value"] - ranked["metrics"][baseline][name]["value"]
            assert interval["value"] == pytest.approx(expected)


def test_classification_rank_answers_are_scored_by_accuracy_and_f1_of_the_argmax() -> None:
    golds = ["comedy", "action", "comedy", "romance"]
    argmax = {variant: ["comedy", "comedy", "action", "romance"] if variant == "profile" else ["comedy"] * 4 for variant in VARIANTS}
    rank = RankClassification("LaMP_2", list(LAMP2_TAGS), {"argmax": argmax})
    results = DownstreamResult(
        DownstreamSettings(), "LaMP_2", ["a", "b", "c", "d"], ["u1", "u2", "u3", "u4"],
        answers=dict.fromkeys(VARIANTS, ["comedy"] * 4), rank_classification=rank,
    )
    ranked = summarize(results, "LaMP_2", golds, samples=20)["rank_classification"]
    assert ranked["metrics"]["profile"]["accuracy@argmax"]["value"] == pytest.approx(0.5)
    assert ranked["metrics"]["no_profile"]["accuracy@argmax"]["value"] == pytest.approx(0.5)
    assert set(ranked["metrics"]["profile"]) == {"accuracy@argmax", "f1@argmax"}
    # macro F1 over 15 tags: profile (comedy 1/2 + romance 1) / 15, no_profile (comedy 2/3) / 15
    assert ranked["differences"]["profile - no_profile"]["f1@argmax"]["value"] == pytest.approx((1.5 - 2 / 3) / 15)
    with pytest.raises(ValueError, match="scored the label options of LaMP_2 but answers are scored as LaMP_3"):
        summarize(results, "LaMP_3", ["1"] * 4, samples=20)
