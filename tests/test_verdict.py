"""The one scoring call: each negatives setting reaches the judge scores, and the reward reads them."""

from __future__ import annotations

import pytest
import torch

from bump_pl.core.reward import RewardSettings
from bump_pl.judges import EmbeddingJudge
from bump_pl.models.tiny import tiny_random_encoder, tiny_tokenizer
from bump_pl.verdict import judge_scores, rollout_reward

U, G, K = 3, 2, 2
PROFILES = [f"user {u} likes topic {u} take {g}" for u in range(U) for g in range(G)]
HELDOUT = [[f"a review of topic {u} number {k}" for k in range(K)] for u in range(U)]


def _reward(settings: RewardSettings):
    judge = EmbeddingJudge(model=tiny_random_encoder(seed=3), tokenizer=tiny_tokenizer())
    scores = judge_scores(judge, PROFILES, HELDOUT, settings)
    return scores, rollout_reward(scores, num_users=U, group_size=G, heldout_per_user=K, settings=settings)


def test_hybrid_negatives_reach_the_scores_and_with_every_negative_equal_global():
    hybrid = dict(negatives="hybrid", retriever="tiny-random-encoder")
    global_scores, global_reward = _reward(RewardSettings())
    every_scores, every = _reward(RewardSettings(**hybrid, hard_negatives=100))
    few_scores, few = _reward(RewardSettings(**hybrid, hard_negatives=1))
    assert global_scores.hard_negatives is None and (every_scores.hard_negatives, few_scores.hard_negatives) == (100, 1)
    torch.testing.assert_close(every.total, global_reward.total)
    assert float(few.chance) > float(global_reward.chance)  # a shorter scored list: a higher chance level
    sampled_scores, sampled = _reward(RewardSettings(**hybrid, hard_negatives=0, sampled_negatives=100))
    assert (sampled_scores.hard_negatives, sampled_scores.sampled_negatives) == (0, 100)
    torch.testing.assert_close(sampled.total, global_reward.total)  # every negative drawn: global's scores
    assert float(sampled.chance) == pytest.approx(float(global_reward.chance))  # and chance level


def test_local_negatives_on_one_process_equal_global():
    _, local = _reward(RewardSettings(negatives="local"))
    _, everyone = _reward(RewardSettings(negatives="global"))
    torch.testing.assert_close(local.total, everyone.total)
    assert local.total.shape == (U * G,) and bool(((local.total >= 0) & (local.total <= 1)).all())


def test_negative_users_reach_the_margin_only_when_passed_and_ndcg_refuses_them():
    from bump_pl.core.margin import margin_reward
    from bump_pl.verdict import rollout_ndcg

    settings = RewardSettings(measure="margin", negative_users=1)
    judge = EmbeddingJudge(model=tiny_random_encoder(seed=3), tokenizer=tiny_tokenizer())
    assert judge_scores(judge, PROFILES, HELDOUT, settings).scored is None  # validation and ladders: every pair
    scores = judge_scores(judge, PROFILES, HELDOUT, settings, settings.negative_users)
    full = judge_scores(judge, PROFILES, HELDOUT, settings)
    assert scores.scored is not None and not bool(scores.scored.all())
    reward = rollout_reward(scores, num_users=U, group_size=G, heldout_per_user=K, settings=settings)
    by_hand = margin_reward(full.profile_to_item, full.item_to_profile, num_users=U, group_size=G, heldout_per_user=K,
                            scored=scores.scored)
    torch.testing.assert_close(reward.total, by_hand.total)
    assert not torch.allclose(reward.total, rollout_reward(full, num_users=U, group_size=G, heldout_per_user=K,
                                                           settings=settings).total)  # 1 of 2 other users: another mean
    with pytest.raises(ValueError, match=r"^rollout_ndcg: these scores pair each user with a sample of negative users"):
        rollout_ndcg(scores, num_users=U, group_size=G, heldout_per_user=K, settings=settings)
