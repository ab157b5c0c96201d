"""``BumpReward`` (the TRL reward function) gives each completion the reward BumpModule trained on."""

from __future__ import annotations

from pathlib import Path

import random

import pytest
import torch

import bump_pl.module
from bump_pl.cli import build_cli
from bump_pl.core.reward import RewardSettings, bidirectional_reward
from bump_pl.integrations.trl import BumpReward
from bump_pl.judges import EmbeddingJudge
from bump_pl.models.generator import ProfileGenerator
from bump_pl.models.tiny import tiny_random_encoder, tiny_tokenizer
from bump_pl.module import BumpModule

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"


def test_trl_reward_equals_the_modules_reward_in_any_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path / "cache"))
    seen: dict = {}
    advantages, rollouts, step = bump_pl.module.group_advantages, ProfileGenerator.rollouts, BumpModule.training_step

    def spy_advantages(rewards, *args, **kwargs):
        seen["rewards"] = rewards.detach().clone()
        return advantages(rewards, *args, **kwargs)

    def spy_rollouts(self, *args, **kwargs):
        sampled = rollouts(self, *args, **kwargs)
        seen["texts"] = list(sampled.texts)
        return sampled

    def spy_step(self, batch, batch_idx):
        seen["batch"] = batch
        return step(self, batch, batch_idx)

    monkeypatch.setattr(bump_pl.module, "group_advantages", spy_advantages)
    monkeypatch.setattr(ProfileGenerator, "rollouts", spy_rollouts)
    monkeypatch.setattr(BumpModule, "training_step", spy_step)
    cli = build_cli(
        ["--config", str(TINY), "--trainer.max_steps", "1", "--trainer.limit_val_batches", "0",
         "--model.reward.copy_penalty", "0.5", "--model.reward.negatives", "local"],
        run=False,
    )
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)

    batch, texts, group = seen["batch"], seen["texts"], cli.model.hparams.group_size
    num_users = len(batch.user_ids)
    # TRL's order: users interleaved, groups reversed (rollout r = u*G + g sits at position order[r])
    order = sorted(range(num_users * group), key=lambda r: (-(r % group), r // group))
    completions = [""] * len(order)
    user_id, history = [""] * len(order), [[]] * len(order)
    for position, r in enumerate(order):
        completions[position], user_id[position], history[position] = texts[r], batch.user_ids[r // group], batch.context[r // group]
    reward = BumpReward(cli.model.judge, dict(zip(batch.user_ids, batch.heldout)), group, settings=cli.model.reward)
    out = reward(prompts=[""] * len(order), completions=completions, user_id=user_id, history=history)

    expected = seen["rewards"]
    assert expected.shape == (num_users * group,) and float(expected.std()) > 0  # rewards that differ
    assert torch.tensor([out[position] for position in sorted(range(len(order)), key=order.__getitem__)]) == pytest.approx(expected.tolist(), abs=1e-6)
    assert reward.batch_means == [pytest.approx(float(expected.mean()), abs=1e-6)]


@pytest.fixture(scope="module")
def judge():
    return EmbeddingJudge(model=tiny_random_encoder(seed=0), tokenizer=tiny_tokenizer())


def test_trl_reward_equals_bump_reward_in_any_order(judge):
    users, group, heldout = ["ann", "bob", "cy"], 3, {"ann": ["a1", "a2"], "bob": ["b1 x", "b2 y"], "cy": ["c", "cc"]}
    profiles = [f"profile {u} {g} " + "z" * (g + 1) for u in users for g in range(group)]  # r = u*G + g
    items = [item for u in users for item in heldout[u]]
    forward = judge.score(profiles, items, "profile_to_item").float()
    expected = bidirectional_reward(forward, forward.T, num_users=3, group_size=group, heldout_per_user=2).total

    order = list(range(len(profiles)))
    random.Random(0).shuffle(order)  # TRL's sampler may put users and samples in any order
    reward = BumpReward(judge, heldout, group, RewardSettings(negatives="local"))
    got = reward(
        prompts=["p"] * len(order),
        completions=[profiles[r] for r in order],
        user_id=[users[r // group] for r in order],
    )
    assert got == pytest.approx([float(expected[r]) for r in order], abs=1e-6)
    assert reward.batch_means == pytest.approx([float(expected.mean())], abs=1e-6)


def test_refuses_a_batch_without_every_users_group() -> None:
    reward = BumpReward(judge=None, heldout={"a": ["x"], "b": ["y"]}, group_size=2)
    with pytest.raises(ValueError, match="exactly G=2 completions"):
        reward(prompts=["p"] * 3, completions=["c"] * 3, user_id=["a", "a", "b"])
    with pytest.raises(ValueError, match="copy_penalty needs a 'history' column"):
        BumpReward(judge=_ConstantJudge(), heldout={"a": ["x"], "b": ["y"]}, group_size=1, settings=RewardSettings(copy_penalty=1.0))(
            prompts=["p"] * 2, completions=["c", "d"], user_id=["a", "b"]
        )


class _ConstantJudge:
    """Every pair scores by its index sum: enough to rank, with no model."""

    symmetric = False
    device = torch.device("cpu")

    def score(self, queries: list[str], candidates: list[str], direction: str) -> torch.Tensor:
        return torch.arange(len(queries))[:, None].float() + torch.arange(len(candidates))[None, :].float()
