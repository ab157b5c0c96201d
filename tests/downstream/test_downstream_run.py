"""run_downstream: zero-shot and SFT take different paths; ids, answers and prompts are the right ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bump_pl.data import get_task
from bump_pl.downstream import run as downstream_run
from bump_pl.downstream.inputs import read_split
from bump_pl.downstream.prompts import VARIANTS
from bump_pl.downstream.run import Questions, run_downstream
from bump_pl.downstream.settings import DownstreamSettings, metric_task_of

TASK = get_task("LaMP_3")


def _inputs(lamp3_dir: Path, max_train: int = 4):
    users = {split: read_split(lamp3_dir, split, TASK) for split in ("train", "dev")}
    profiles = {(u.user_id, s): f"PROFILE<{u.user_id}>" for s in users for u in users[s]}
    train = Questions.of(users["train"], "train", max_train)
    evaluation = Questions.of(users["dev"], "dev", None)
    return users, profiles, train, evaluation


def _settings(mode: str) -> DownstreamSettings:
    return DownstreamSettings(
        backbone="tiny-random-llama", mode=mode, max_answer_tokens=3, context_tokens=64, batch_size=2, lr=1e-2, epochs=2
    )


def test_zero_shot_never_trains_and_sft_trains_a_fresh_adapter_per_variant(lamp3_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    users, profiles, train, evaluation = _inputs(lamp3_dir)
    trained: list[tuple[list[str], bool]] = []
    real_sft = downstream_run.sft

    def spy(model, tokenizer, architecture, prompts, answers, **kwargs):
        lora_b = [p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n]
        losses = real_sft(model, tokenizer, architecture, prompts, answers, **kwargs)
        after = [p for n, p in model.named_parameters() if "lora_B" in n]
        trained.append((prompts, all(torch.all(b == 0) for b in lora_b) and any(not torch.equal(b, a) for b, a in zip(lora_b, after))))
        return losses

    monkeypatch.setattr(downstream_run, "sft", spy)
    zero = run_downstream(_settings("zero_shot"), TASK, profiles, train, evaluation)
    assert trained == [] and zero.sft_loss is None

    tuned = run_downstream(_settings("sft"), TASK, profiles, train, evaluation)
    assert len(trained) == 4 and all(fresh_and_changed for _, fresh_and_changed in trained)
    prompts = dict(zip(VARIANTS, (prompts for prompts, _ in trained)))
    assert all(f"PROFILE<{u.user_id}>" in p for (u, _), p in zip(train.pairs, prompts["profile"]))
    assert not any("PROFILE<" in p for v in VARIANTS if v != "profile" for p in prompts[v])
    assert all("recent history" in p for p in prompts["recent_history"])
    assert all("most relevant to the question" in p for p in prompts["retrieved_history"])
    assert set(tuned.sft_loss) == set(VARIANTS)

    for result in (zero, tuned):
        assert result.eval_ids == [q.id for u in users["dev"] for q in u.questions]
        assert result.eval_users == [u.user_id for u in users["dev"] for _ in u.questions]
        assert set(result.answers) == set(VARIANTS)
        assert all(len(answers) == len(result.eval_ids) for answers in result.answers.values())
        assert len(result.records) == len(VARIANTS) * len(result.eval_ids)


def test_movielens_is_scored_with_lamp3s_rating_metric() -> None:
    assert metric_task_of("MovieLens_rating") == "LaMP_3" and metric_task_of("lamp-2") == "LaMP_2"


def test_torch_rng_of_the_training_run_is_untouched(lamp3_dir: Path) -> None:
    _, profiles, train, evaluation = _inputs(lamp3_dir, max_train=2)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    run_downstream(_settings("sft"), TASK, profiles, train, evaluation)
    assert torch.equal(torch.rand(3), expected)


def test_questions_without_golds_or_settings_out_of_range_are_clear_errors(lamp3_dir: Path) -> None:
    users = read_split(lamp3_dir, "dev", TASK)
    users[0].questions[0].output = None
    with pytest.raises(ValueError, match="dev: questions .* have no gold output"):
        Questions.of(users, "dev", None)
    with pytest.raises(ValueError, match="mode must be 'sft' or 'zero_shot'"):
        DownstreamSettings(mode="few_shot")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_answer_tokens must be >= 1"):
        DownstreamSettings(max_answer_tokens=0)
