"""margin_reward: hand-computed values, a per-rollout loop, DDP slices, chance 0, and the settings that refuse it."""

from __future__ import annotations

import pytest
import torch

from bump_pl.core.margin import margin_reward
from bump_pl.core.reward import RewardSettings


def _loop(p2i: torch.Tensor, i2p: torch.Tensor, U: int, G: int, K: int, alpha: float) -> torch.Tensor:
    """The margin written out one rollout, one item at a time."""
    out = []
    for u in range(U):
        for g in range(G):
            r = u * G + g
            own = [p2i[r, u * K + k] for k in range(K)]
            others = [p2i[r, v * K + k] for v in range(U) if v != u for k in range(K)]
            forward = sum(own) / K - sum(others) / len(others)
            backward = 0.0
            for k in range(K):
                j = u * K + k
                rivals = [i2p[j, v * G + h] for v in range(U) if v != u for h in range(G)]
                backward += (i2p[j, r] - sum(rivals) / len(rivals)) / K
            out.append(alpha * forward + (1 - alpha) * backward)
    return torch.stack(out)


def test_two_users_by_hand():
    # U=2, G=1, K=2: rollout 0 scores its items 3 and 1, user 1's items 0 and 0 -> margin 2
    p2i = torch.tensor([[3.0, 1.0, 0.0, 0.0], [1.0, 1.0, 2.0, 4.0]])
    i2p = torch.tensor([[1.0, 0.0], [2.0, 1.0], [0.0, 5.0], [0.0, 1.0]])
    reward = margin_reward(p2i, i2p, num_users=2, group_size=1, heldout_per_user=2, alpha=0.25)
    torch.testing.assert_close(reward.profile_to_item, torch.tensor([2.0 - 0.0, 3.0 - 1.0]))
    torch.testing.assert_close(reward.item_to_profile, torch.tensor([((1 - 0) + (2 - 1)) / 2, ((5 - 0) + (1 - 0)) / 2]))
    torch.testing.assert_close(reward.total, 0.25 * reward.profile_to_item + 0.75 * reward.item_to_profile)
    assert float(reward.chance) == float(reward.chance_profile_to_item) == float(reward.chance_item_to_profile) == 0.0


@pytest.mark.parametrize(("U", "G", "K", "alpha"), [(3, 2, 2, 0.5), (4, 3, 1, 1.0), (2, 4, 3, 0.0)])
def test_equals_the_loop_and_slices_of_users_concatenate_to_the_whole(U, G, K, alpha):
    gen = torch.Generator().manual_seed(U * 100 + G * 10 + K)
    p2i, i2p = torch.randn(U * G, U * K, generator=gen), torch.randn(U * K, U * G, generator=gen)
    whole = margin_reward(p2i, i2p, num_users=U, group_size=G, heldout_per_user=K, alpha=alpha)
    torch.testing.assert_close(whole.total, _loop(p2i, i2p, U, G, K, alpha))
    parts = [margin_reward(p2i, i2p, num_users=U, group_size=G, heldout_per_user=K, alpha=alpha,
                           local_users=slice(u, u + 1)).total for u in range(U)]
    torch.testing.assert_close(torch.cat(parts), whole.total)


def test_a_judge_scoring_at_random_earns_zero_on_average():
    gen = torch.Generator().manual_seed(0)
    totals = torch.stack([
        margin_reward(torch.rand(12, 8, generator=gen), torch.rand(8, 12, generator=gen), num_users=4, group_size=3,
                      heldout_per_user=2).total for _ in range(2000)
    ])
    mean, standard_error = totals.mean(), totals.std() / totals.numel() ** 0.5
    assert abs(float(mean)) < 4 * float(standard_error)
    # and a judge that scores own pairs higher earns more
    shifted = torch.rand(12, 8, generator=gen) + torch.eye(4).repeat_interleave(3, 0).repeat_interleave(2, 1)
    assert bool((margin_reward(shifted, shifted.T, num_users=4, group_size=3, heldout_per_user=2).total > 0).all())


def test_one_user_and_hybrid_negatives_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"num_users must be >= 2"):
        margin_reward(torch.zeros(2, 1), torch.zeros(1, 2), num_users=1, group_size=2, heldout_per_user=1)
    with pytest.raises(ValueError, match=r"^margin_reward: profile_to_item scores must be \[U\*G, U\*K\] = \[4, 2\]"):
        margin_reward(torch.zeros(2, 2), torch.zeros(2, 4), num_users=2, group_size=2, heldout_per_user=1)
    with pytest.raises(ValueError, match=r"^margin_reward: local_users must be a contiguous"):
        margin_reward(torch.zeros(4, 2), torch.zeros(2, 4), num_users=2, group_size=2, heldout_per_user=1,
                      local_users=slice(1, 3))
    with pytest.raises(ValueError, match=r"margin needs every negative scored; use negatives: global or local"):
        RewardSettings(measure="margin", negatives="hybrid")
    with pytest.raises(ValueError, match=r"model.reward.measure must be 'ndcg' or 'margin', got 'rank'"):
        RewardSettings(measure="rank")


def _loop_over(p2i, i2p, scored, U, G, K, alpha):
    """The margin written out per rollout, the other users' means over the ``scored`` pairs only."""
    out = []
    for u in range(U):
        for g in range(G):
            r = u * G + g
            own = [p2i[r, u * K + k] for k in range(K)]
            others = [p2i[r, j] for j in range(U * K) if j // K != u and scored[r, j]]
            backward = 0.0
            for k in range(K):
                j = u * K + k
                rivals = [i2p[j, s] for s in range(U * G) if s // G != u and scored[s, j]]
                backward += (i2p[j, r] - sum(rivals) / len(rivals)) / K
            out.append(alpha * (sum(own) / K - sum(others) / len(others)) + (1 - alpha) * backward)
    return torch.stack(out)


def test_a_sample_of_negative_users_takes_the_other_users_means_over_the_sample():
    from bump_pl.core.negative_users import negative_pair_mask

    U, G, K, alpha = 5, 2, 3, 0.3
    gen = torch.Generator().manual_seed(3)
    p2i, i2p = torch.randn(U * G, U * K, generator=gen), torch.randn(U * K, U * G, generator=gen)
    scored = negative_pair_mask(U, 2, G, K, seed=5)
    sampled = margin_reward(p2i.masked_fill(~scored, 1e6), i2p.masked_fill(~scored.T, -1e6),
                            num_users=U, group_size=G, heldout_per_user=K, alpha=alpha, scored=scored)
    torch.testing.assert_close(sampled.total, _loop_over(p2i, i2p, scored, U, G, K, alpha))  # unscored never read
    every = margin_reward(p2i, i2p, num_users=U, group_size=G, heldout_per_user=K, alpha=alpha,
                          scored=torch.ones(U * G, U * K, dtype=torch.bool))
    torch.testing.assert_close(every.total, margin_reward(p2i, i2p, num_users=U, group_size=G, heldout_per_user=K,
                                                          alpha=alpha).total)
    with pytest.raises(ValueError, match=r"^margin_reward: scored must be \[U\*G, U\*K\] = \(10, 15\), got \(15, 10\)"):
        margin_reward(p2i, i2p, num_users=U, group_size=G, heldout_per_user=K, scored=scored.T)


def test_the_margin_over_a_sample_of_users_is_unbiased():
    # averaged over draws, the sampled margin of every rollout is the full margin (within 4 standard errors)
    from bump_pl.core.negative_users import negative_pair_mask

    U, G, K, draws = 6, 2, 2, 3000
    gen = torch.Generator().manual_seed(0)
    p2i = torch.randn(U * G, U * K, generator=gen) * torch.arange(1, U * K + 1)  # items differ a lot: a biased
    full = margin_reward(p2i, p2i.T, num_users=U, group_size=G, heldout_per_user=K).total  # draw would show
    sampled = torch.stack([
        margin_reward(p2i, p2i.T, num_users=U, group_size=G, heldout_per_user=K,
                      scored=negative_pair_mask(U, 2, G, K, seed)).total for seed in range(draws)
    ])
    standard_error = sampled.std(dim=0) / draws ** 0.5
    assert bool(((sampled.mean(dim=0) - full).abs() < 4 * standard_error + 1e-6).all())
    assert float(sampled.std(dim=0).min()) > 0  # the draws did differ


def test_negative_users_need_the_margin():
    with pytest.raises(ValueError, match=r"^model.reward.negative_users=2 needs model.reward.measure: margin"):
        RewardSettings(negative_users=2)
    with pytest.raises(ValueError, match=r"^model.reward.negative_users must be an int >= 0, got -1"):
        RewardSettings(measure="margin", negative_users=-1)
    assert RewardSettings(measure="margin", negative_users=3).negative_users == 3
