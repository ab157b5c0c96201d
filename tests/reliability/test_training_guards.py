"""What a training step does with degenerate judge output: NaN stops it with the step and users named,
empty profiles are scored like any text, and an all-tied batch trains with zero advantages."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from torch import Tensor

from bump_pl.data import BumpDataModule
from bump_pl.judges import EmbeddingJudge
from bump_pl.models.rollout import SamplingSettings
from bump_pl.models.tiny import tiny_random_encoder, tiny_tokenizer
from bump_pl.module import BumpModule

GROUP = 2


class ConstantJudge:
    """A judge whose every score is ``value`` (NaN, or a constant that ties every ranking)."""

    symmetric = True
    device = torch.device("cpu")

    def __init__(self, value: float) -> None:
        self.value = value

    def to(self, device: Any) -> "ConstantJudge":
        return self

    def score(self, queries: list[str], candidates: list[str], direction: str) -> Tensor:
        """``[Q, C]`` filled with ``value``."""
        return torch.full((len(queries), len(candidates)), self.value)


class _Module(BumpModule):
    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD([p for p in self.parameters() if p.requires_grad], lr=0.1)


class _Record(pl.Callback):
    """Users of each train batch and what each training step returned."""

    def __init__(self) -> None:
        self.users: list[list[str]] = []
        self.outputs: list[Any] = []

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        self.users.append(list(batch.user_ids))

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.outputs.append(outputs)


def _one_step_fit(judge: Any, data_dir: Path, root: Path) -> tuple[pl.Trainer, _Module, BumpDataModule, _Record]:
    """A one-step fit on tiny models (not yet run): trainer, module, data, recorder."""
    module = _Module(judge=judge, group_size=GROUP, sampling=SamplingSettings(max_new_tokens=4), log_samples_every_n_steps=0)
    data = BumpDataModule(
        data_dir=data_dir, tokenizer=tiny_tokenizer(), users_per_batch=3, heldout_per_user=2, min_context_items=2,
        max_prompt_tokens=768,
    )
    record = _Record()
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=1, limit_val_batches=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False,
        default_root_dir=root, callbacks=[record],
    )
    return trainer, module, data, record


def test_nan_judge_scores_stop_the_step_naming_step_and_users() -> None:
    module = _Module(judge=ConstantJudge(float("nan")), group_size=GROUP, log_samples_every_n_steps=0)
    users = ["u1", "u7", "u9"]
    with pytest.raises(FloatingPointError, match=r"^step 0: the judge gave non-finite \(NaN/inf\) scores") as info:
        module._bidirectional_reward(
            SimpleNamespace(texts=["a profile"] * (len(users) * GROUP), group_size=GROUP),
            SimpleNamespace(heldout=[["x", "y"]] * len(users), user_ids=users),
        )
    assert str(users) in str(info.value)


def test_nan_judge_in_a_real_fit_names_the_batch_users(valid_lamp: Path, tmp_path: Path) -> None:
    trainer, module, data, record = _one_step_fit(ConstantJudge(float("inf")), valid_lamp, tmp_path)
    with pytest.raises(FloatingPointError, match=r"^step 0: ") as info:
        trainer.fit(module, datamodule=data)
    assert record.users and str(record.users[0]) in str(info.value)
    assert trainer.global_step == 0 and not record.outputs  # the step did not complete


def test_empty_profiles_get_the_judges_score_for_empty_text() -> None:
    judge = EmbeddingJudge(model=tiny_random_encoder(seed=1), tokenizer=tiny_tokenizer())
    items = ["likes quiet kettles", "hates loud blenders", "reads sci-fi", "bakes bread"]
    mixed = judge.score(["", "a tea lover", ""], items, "profile_to_item")  # [3, 4]
    alone = judge.score([""], items, "profile_to_item")  # [1, 4]
    assert torch.isfinite(mixed).all()
    torch.testing.assert_close(mixed[0], alone[0])
    torch.testing.assert_close(mixed[2], alone[0])
    assert not torch.equal(mixed[1], alone[0])  # "" is a text of its own, not a copy of a neighbour

    module = _Module(judge=judge, group_size=GROUP, log_samples_every_n_steps=0)
    profiles = ["", "a tea lover", "", ""]  # r = u*G + g: u0 has one empty profile, u1 two
    reward = module._bidirectional_reward(
        SimpleNamespace(texts=profiles, group_size=GROUP), SimpleNamespace(heldout=[items[:2], items[2:]], user_ids=["u0", "u1"])
    )
    assert reward.total.shape == (4,) and torch.isfinite(reward.total).all()
    assert reward.total[2] == reward.total[3]  # identical (empty) profiles of one user: identical reward


def test_all_tied_batch_logs_zero_spread_and_trains_with_zero_advantages(valid_lamp: Path, tmp_path: Path) -> None:
    trainer, module, data, record = _one_step_fit(ConstantJudge(0.5), valid_lamp, tmp_path)
    trainer.fit(module, datamodule=data)
    assert trainer.global_step == 1 and len(record.outputs) == 1
    assert trainer.callback_metrics["train/frac_reward_zero_std"].item() == 1.0
    assert trainer.callback_metrics["train/reward_std"].item() == 0.0
    assert float(record.outputs[0]["loss"] if isinstance(record.outputs[0], dict) else record.outputs[0]) == 0.0
    grads = [p.grad for p in module.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.count_nonzero(g) == 0 for g in grads)  # zero advantages: zero gradient
