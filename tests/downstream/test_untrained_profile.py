"""The ``untrained_profile`` variant: the generator's profile before training, prompted and scored as ``profile``
is, compared with it on the same questions (``profile - untrained_profile``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bump_pl.data import LampExample, UserHistory, get_task
from bump_pl.downstream.prompts import VARIANTS, PromptBuilder, baselines_of
from bump_pl.downstream.report import markdown_report, summarize
from bump_pl.downstream.inputs import read_split
from bump_pl.downstream.result import DownstreamResult, RankClassification
from bump_pl.downstream.run import Questions, run_downstream
from bump_pl.downstream.settings import DownstreamSettings
from bump_pl.models.tiny import tiny_tokenizer

TASK = get_task("LaMP_3")
FIVE = (*VARIANTS, "untrained_profile")
DIFFERENCES = ["profile - no_profile", "profile - recent_history", "profile - retrieved_history", "profile - untrained_profile"]
ZERO_SHOT = DownstreamSettings(backbone="tiny-random-llama", mode="zero_shot", max_answer_tokens=2, context_tokens=64)


def test_untrained_profile_is_prompted_exactly_as_the_profile() -> None:
    items = [{"id": "1", "text": "fine kettle", "score": "4"}]
    user = UserHistory("u1", items, [LampExample("q1", "u1", "Rate this review: kettle", "4", items)])
    builder = PromptBuilder(TASK, tiny_tokenizer(), "causal", 20, 3, 200)
    question = user.questions[0]
    assert builder("untrained_profile", user, question, "Writes short reviews.") == builder("profile", user, question, "Writes short reviews.")
    assert builder.context("untrained_profile", user, question, "y" * 50) == "y" * 20  # the profile's head, same budget
    with pytest.raises(ValueError, match="no untrained profile for user 'u1'"):
        builder("untrained_profile", user, question, None)
    assert baselines_of(VARIANTS) == ("no_profile", "recent_history", "retrieved_history")
    assert baselines_of(FIVE) == ("no_profile", "recent_history", "retrieved_history", "untrained_profile")


def _dev(lamp3_dir: Path) -> tuple[dict[tuple[str, str], str], Questions]:
    users = read_split(lamp3_dir, "dev", TASK)
    return {(u.user_id, "dev"): f"PROFILE<{u.user_id}>" for u in users}, Questions.of(users, "dev", None)


def test_the_untrained_variant_gets_the_untrained_profiles_and_no_others(lamp3_dir: Path) -> None:
    profiles, evaluation = _dev(lamp3_dir)
    untrained = {key: f"UNTRAINED<{key[0]}>" for key in profiles}
    results = run_downstream(ZERO_SHOT, TASK, profiles, None, evaluation, untrained_profiles=untrained)
    assert tuple(results.answers) == FIVE
    assert tuple(results.rank_classification.predictions["argmax"]) == FIVE
    prompts = {variant: [r["prompt"] for r in results.records if r["variant"] == variant] for variant in FIVE}
    users = [user.user_id for user, _ in evaluation.pairs]
    assert all(f"User profile:\nUNTRAINED<{u}>" in p for u, p in zip(users, prompts["untrained_profile"], strict=True))
    assert not any("PROFILE<" in p for p in prompts["untrained_profile"])
    assert not any("UNTRAINED<" in p for v in VARIANTS for p in prompts[v])
    assert [p.replace("UNTRAINED<", "PROFILE<") for p in prompts["untrained_profile"]] == prompts["profile"]


def test_identical_profiles_give_a_difference_of_exactly_zero(lamp3_dir: Path) -> None:
    profiles, evaluation = _dev(lamp3_dir)
    results = run_downstream(ZERO_SHOT, TASK, profiles, None, evaluation, untrained_profiles=dict(profiles))
    summary = summarize(results, "LaMP_3", evaluation.answers, samples=50)
    for section, kinds in ((summary, ("MAE", "RMSE")), (summary["rank_classification"], ("MAE@argmax", "MAE@expected"))):
        assert list(section["differences"]) == DIFFERENCES
        zero = section["differences"]["profile - untrained_profile"]
        assert set(kinds) <= set(zero) and all(zero[name] == {"value": 0.0, "low": 0.0, "high": 0.0} for name in zero)


def test_sft_adapters_of_identical_profiles_are_identical(lamp3_dir: Path) -> None:
    """Each variant's adapter starts from the same seeded initialisation: identical profiles give
    identical fine-tuned models, so the paired difference is exactly 0 in SFT mode too."""
    profiles, evaluation = _dev(lamp3_dir)
    train_users = read_split(lamp3_dir, "train", TASK)
    train = Questions.of(train_users, "train", 4)
    profiles |= {(u.user_id, "train"): f"PROFILE<{u.user_id}>" for u in train_users}
    sft = DownstreamSettings(backbone="tiny-random-llama", mode="sft", max_answer_tokens=2, context_tokens=64, lr=1e-2)
    results = run_downstream(sft, TASK, profiles, train, evaluation, untrained_profiles=dict(profiles))
    assert results.sft_loss["profile"] == results.sft_loss["untrained_profile"]
    assert results.sft_loss["profile"] != results.sft_loss["no_profile"]  # the prompts do differ there
    logprobs = {v: [r["option_logprobs"] for r in results.records if r["variant"] == v] for v in ("profile", "untrained_profile")}
    assert logprobs["profile"] == logprobs["untrained_profile"]


def _hand_made(untrained: list[str]) -> DownstreamResult:
    """Answers of 4 questions (golds 1..4) of 4 users: ``profile`` exact, the baselines always ``"3"``."""
    answers = {variant: ["3"] * 4 for variant in VARIANTS} | {"profile": ["1", "2", "3", "4"], "untrained_profile": untrained}
    rank = RankClassification("LaMP_3", ["1", "2", "3", "4", "5"], {"argmax": answers})
    ids, users = ["q1", "q2", "q3", "q4"], ["u1", "u2", "u3", "u4"]
    return DownstreamResult(ZERO_SHOT, "LaMP_3", ids, users, answers=answers, rank_classification=rank)


def test_report_has_five_variants_and_the_paired_difference_of_their_metrics() -> None:
    golds = ["1", "2", "3", "4"]
    summary = summarize(_hand_made(["2", "2", "5", "4"]), "LaMP_3", golds, samples=200)
    assert summary["num_questions"] == dict.fromkeys(FIVE, 4)
    untrained, difference = summary["metrics"]["untrained_profile"], summary["differences"]["profile - untrained_profile"]
    assert untrained["MAE"]["value"] == pytest.approx(0.75)  # |2-1| + |5-3| over 4 questions
    assert difference["MAE"]["value"] == pytest.approx(-0.75)  # the profile is exact
    for name in ("MAE", "RMSE"):
        expected = summary["metrics"]["profile"][name]["value"] - untrained[name]["value"]
        assert difference[name]["value"] == pytest.approx(expected) and difference[name]["low"] <= expected <= difference[name]["high"]
    ranked = summary["rank_classification"]
    assert list(ranked["metrics"]) == list(FIVE) and list(ranked["differences"]) == DIFFERENCES
    assert ranked["differences"]["profile - untrained_profile"]["MAE@argmax"]["value"] == pytest.approx(-0.75)
    report = {**summary, "settings": {"mode": "zero_shot", "backbone": "tiny"}, "metric_task": "LaMP_3", "eval_split": "dev",
              "num_eval_examples": 4, "num_eval_users": 4}
    text = markdown_report(report)
    assert text.count("| untrained_profile | 4 |") == 2 and text.count("| profile - untrained_profile |") == 2
