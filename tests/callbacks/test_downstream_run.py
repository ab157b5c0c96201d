"""run_downstream: zero-shot and SFT take different paths; ids, metric keys and prompts are the right ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bump_pl.callbacks import downstream_run
from bump_pl.callbacks.downstream_run import DownstreamSettings, Questions, run_downstream
from callback_fakes import make_datamodule


def _inputs(lamp3_dir: Path, max_train: int = 4):
    datamodule = make_datamodule(lamp3_dir)
    profiles = {(u.user_id, s): f"PROFILE<{u.user_id}>" for s in ("train", "val") for u in datamodule.users[s]}
    train = Questions.of(datamodule.users["train"], "train", max_train)
    evaluation = Questions.of(datamodule.users["val"], "val", None)
    return datamodule, profiles, train, evaluation


def _settings(mode: str) -> DownstreamSettings:
    return DownstreamSettings(mode=mode, max_new_tokens=3, context_tokens=64, batch_size=2, lr=1e-2, epochs=2)


def test_zero_shot_never_trains_and_sft_trains_a_fresh_adapter_per_variant(lamp3_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    datamodule, profiles, train, evaluation = _inputs(lamp3_dir)
    trained: list[tuple[list[str], bool]] = []
    real_sft = downstream_run.sft

    def spy(model, tokenizer, architecture, prompts, answers, **kwargs):
        lora_b = [p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n]
        losses = real_sft(model, tokenizer, architecture, prompts, answers, **kwargs)
        after = [p for n, p in model.named_parameters() if "lora_B" in n]
        trained.append((prompts, all(torch.all(b == 0) for b in lora_b) and any(not torch.equal(b, a) for b, a in zip(lora_b, after))))
        return losses

    monkeypatch.setattr(downstream_run, "sft", spy)
    task = datamodule.task
    zero = run_downstream(_settings("zero_shot"), task, "LaMP_3", profiles, train, evaluation)
    assert trained == [] and "sft_loss" not in zero

    tuned = run_downstream(_settings("sft"), task, "LaMP_3", profiles, train, evaluation)
    assert len(trained) == 3 and all(fresh_and_changed for _, fresh_and_changed in trained)
    profile_prompts, no_profile_prompts, history_prompts = (prompts for prompts, _ in trained)
    assert all(f"PROFILE<{u.user_id}>" in p for (u, _), p in zip(train.pairs, profile_prompts))
    assert not any("PROFILE<" in p for p in no_profile_prompts + history_prompts)
    assert set(tuned["sft_loss"]) == {"profile", "no_profile", "raw_history"}

    for result in (zero, tuned):
        assert result["eval_ids"] == [q.id for u in datamodule.users["val"] for q in u.questions]
        for variant in ("profile", "no_profile", "raw_history"):
            assert set(result[variant]) == {"MAE", "RMSE"}
            assert 0 <= result[variant]["MAE"] <= result[variant]["RMSE"] <= 4


def test_torch_rng_of_the_training_run_is_untouched(lamp3_dir: Path) -> None:
    datamodule, profiles, train, evaluation = _inputs(lamp3_dir, max_train=2)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    run_downstream(_settings("sft"), datamodule.task, "LaMP_3", profiles, train, evaluation)
    assert torch.equal(torch.rand(3), expected)


def test_questions_without_golds_or_settings_out_of_range_are_clear_errors(lamp3_dir: Path) -> None:
    datamodule = make_datamodule(lamp3_dir)
    users = datamodule.users["val"]
    users[0].questions[0].output, saved = None, users[0].questions[0].output
    try:
        with pytest.raises(ValueError, match="val: questions .* have no gold output"):
            Questions.of(users, "val", None)
    finally:
        users[0].questions[0].output = saved
    with pytest.raises(ValueError, match="mode must be 'sft' or 'zero_shot'"):
        DownstreamSettings(mode="few_shot")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
        DownstreamSettings(max_new_tokens=0)
