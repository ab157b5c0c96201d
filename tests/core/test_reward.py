"""bidirectional_reward: hand-worked cases, an sklearn loop reference, DDP row slicing, exact chance levels."""

import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import ndcg_score

from bump_pl.metrics.functional import multi_positive_ndcg
from bump_pl.core.reward import bidirectional_reward, chance_ndcg


def d(position: int) -> float:
    """Discount of a 1-based position."""
    return 1.0 / math.log2(position + 1)


def _hand_case() -> tuple[torch.Tensor, torch.Tensor]:
    """U=2, G=2, K=2. Rollouts 0,1 belong to user 0 (items 0,1); rollouts 2,3 to user 1 (items 2,3)."""
    p2i = torch.tensor(
        [
            [0.9, 0.8, 0.2, 0.1],  # rollout 0: own items lead            -> 1
            [0.1, 0.2, 0.8, 0.9],  # rollout 1: own items last (ranks 3,4)
            [0.5, 0.1, 0.9, 0.2],  # rollout 2: own items at ranks 1 and 3
            [0.1, 0.2, 0.3, 0.4],  # rollout 3: own items lead
        ]
    )
    i2p = torch.tensor(
        [
            # candidates for user 0's rollouts are {r} + rollouts 2, 3 (user 0's other rollout left out)
            [0.9, 0.1, 0.5, 0.4],  # item 0: rollout 0 first of 3, rollout 1 last of 3
            [0.9, 0.0, 0.5, 0.4],  # item 1: same
            [0.3, 0.6, 0.5, 0.9],  # item 2: rollout 2 (0.5) is 2nd of {0.5, 0.3, 0.6}; rollout 3 first
            [0.3, 0.6, 0.6, 0.9],  # item 3: rollout 2 ties rollout 1 for ranks 1-2; rollout 3 first
        ]
    )
    return p2i, i2p


def test_hand_worked_both_directions():
    p2i, i2p = _hand_case()
    out = bidirectional_reward(p2i, i2p, num_users=2, group_size=2, heldout_per_user=2)
    expected_p2i = [1.0, (d(3) + d(4)) / (d(1) + d(2)), (d(1) + d(3)) / (d(1) + d(2)), 1.0]
    expected_i2p = [1.0, d(3), (d(2) + (d(1) + d(2)) / 2) / 2, 1.0]
    torch.testing.assert_close(out.profile_to_item, torch.tensor(expected_p2i))
    torch.testing.assert_close(out.item_to_profile, torch.tensor(expected_i2p))
    torch.testing.assert_close(out.total, (out.profile_to_item + out.item_to_profile) / 2)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_alpha_mixes_the_directions(alpha):
    p2i, i2p = _hand_case()
    out = bidirectional_reward(p2i, i2p, num_users=2, group_size=2, heldout_per_user=2, alpha=alpha)
    torch.testing.assert_close(out.total, alpha * out.profile_to_item + (1 - alpha) * out.item_to_profile)
    if alpha == 1.0:
        torch.testing.assert_close(out.total, out.profile_to_item)
    if alpha == 0.0:
        torch.testing.assert_close(out.total, out.item_to_profile)
    torch.testing.assert_close(out.chance, alpha * out.chance_profile_to_item + (1 - alpha) * out.chance_item_to_profile)


def _sklearn_reference(p2i, i2p, u_count, g_count, k_count, k):
    """A per-rollout loop over explicit candidate lists, scored by sklearn."""
    fwd, bwd = [], []
    for r in range(u_count * g_count):
        user = r // g_count
        relevant = np.array([[j // k_count == user for j in range(u_count * k_count)]], dtype=float)
        fwd.append(ndcg_score(relevant, p2i[r : r + 1].double().numpy(), k=k))
        others = [c for c in range(u_count * g_count) if c // g_count != user]
        per_item = []
        for j in range(user * k_count, (user + 1) * k_count):
            candidates = [r, *others]
            truth = np.array([[1.0] + [0.0] * len(others)])
            per_item.append(ndcg_score(truth, i2p[j, candidates][None].double().numpy(), k=k))
        bwd.append(np.mean(per_item))
    return np.array(fwd), np.array(bwd)


@pytest.mark.parametrize("k", [None, 1, 3])
def test_random_with_ties_equals_sklearn_loop(k):
    gen = torch.Generator().manual_seed(7)
    u_count, g_count, k_count = 4, 3, 2
    p2i = torch.randint(0, 4, (u_count * g_count, u_count * k_count), generator=gen).float()
    i2p = torch.randint(0, 4, (u_count * k_count, u_count * g_count), generator=gen).float()
    out = bidirectional_reward(
        p2i, i2p, num_users=u_count, group_size=g_count, heldout_per_user=k_count, k=k, alpha=0.3
    )
    ref_p2i, ref_i2p = _sklearn_reference(p2i, i2p, u_count, g_count, k_count, k)
    np.testing.assert_allclose(out.profile_to_item.numpy(), ref_p2i, atol=1e-6)
    np.testing.assert_allclose(out.item_to_profile.numpy(), ref_i2p, atol=1e-6)


def test_local_users_slice_equals_slicing_the_global_result():
    gen = torch.Generator().manual_seed(3)
    p2i, i2p = torch.randint(0, 3, (12, 9), generator=gen).float(), torch.randn(9, 12, generator=gen)
    sizes = dict(num_users=3, group_size=4, heldout_per_user=3)
    whole = bidirectional_reward(p2i, i2p, **sizes)
    part = bidirectional_reward(p2i, i2p, **sizes, local_users=slice(1, 3))
    torch.testing.assert_close(part.total, whole.total[4:])
    torch.testing.assert_close(part.item_to_profile, whole.item_to_profile[4:])
    torch.testing.assert_close(part.chance, whole.chance)


def test_symmetric_judge_passes_the_transpose():
    scores = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    out = bidirectional_reward(scores, scores.T, num_users=2, group_size=3, heldout_per_user=2)
    # i2p of rollout 0 by hand: its rank among {0} + user 1's rollouts, mean over items 0 and 1
    expected = []
    for j in (0, 1):
        candidates = scores.T[j, [0, 3, 4, 5]]
        expected.append(d(1 + int((candidates[1:] > candidates[0]).sum())))
    assert float(out.item_to_profile[0]) == pytest.approx(sum(expected) / 2, abs=1e-6)


def test_single_user_has_no_negatives_so_everything_is_one():
    out = bidirectional_reward(torch.randn(3, 2), torch.randn(2, 3), num_users=1, group_size=3, heldout_per_user=2)
    assert out.total.tolist() == [1.0, 1.0, 1.0] and float(out.chance) == 1.0


@pytest.mark.parametrize(("relevant", "candidates", "k"), [(2, 5, None), (1, 4, None), (2, 5, 2), (1, 6, 3)])
def test_chance_ndcg_equals_exhaustive_enumeration(relevant, candidates, k):
    truth = torch.zeros(1, candidates, dtype=torch.bool)
    truth[0, :relevant] = True
    perms = torch.tensor(list(itertools.permutations(range(candidates))), dtype=torch.float32)
    exact = multi_positive_ndcg(perms, truth.expand(len(perms), -1), k).double().mean()
    assert chance_ndcg(relevant, candidates, k) == pytest.approx(float(exact), abs=1e-6)


@pytest.mark.parametrize("k", [None, 2])
def test_chance_levels_match_monte_carlo(k):
    gen = torch.Generator().manual_seed(0)
    sizes = dict(num_users=5, group_size=3, heldout_per_user=2)
    p2i_sum = i2p_sum = 0.0
    trials = 400
    for _ in range(trials):
        out = bidirectional_reward(torch.randn(15, 10, generator=gen), torch.randn(10, 15, generator=gen), **sizes, k=k)
        p2i_sum += float(out.profile_to_item.mean())
        i2p_sum += float(out.item_to_profile.mean())
    # 6000 rollouts (correlated within a batch); NDCG's std is < 0.4, so 0.02 is well over 4 standard errors.
    assert p2i_sum / trials == pytest.approx(float(out.chance_profile_to_item), abs=0.02)
    assert i2p_sum / trials == pytest.approx(float(out.chance_item_to_profile), abs=0.02)
    assert float(out.chance_profile_to_item) == pytest.approx(chance_ndcg(2, 10, k))
    assert float(out.chance_item_to_profile) == pytest.approx(chance_ndcg(1, 13, k))


@pytest.mark.parametrize(
    ("p2i", "i2p", "kwargs", "message"),
    [
        (torch.zeros(4, 3), torch.zeros(4, 4), {}, r"profile_to_item scores must be \[U\*G, U\*K\] = \[4, 4\]"),
        (torch.zeros(4, 4), torch.zeros(4, 3), {}, r"item_to_profile scores must be \[U\*K, U\*G\] = \[4, 4\]"),
        (torch.full((4, 4), float("nan")), torch.zeros(4, 4), {}, "profile_to_item has 16 non-finite"),
        (torch.zeros(4, 4), torch.tensor([[float("inf")] * 4] + [[0.0] * 4] * 3), {}, "item_to_profile has 4 non"),
        (torch.zeros(4, 4), torch.zeros(4, 4), {"alpha": 1.5}, "alpha must be in"),
        (torch.zeros(4, 4), torch.zeros(4, 4), {"local_users": slice(1, 5)}, "local_users must be"),
        (torch.zeros(4, 4), torch.zeros(4, 4), {"hard_negatives": -1}, "hard_negatives must be an int >= 0"),
    ],
)
def test_bad_input_raises_clear_error(p2i, i2p, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bidirectional_reward(p2i, i2p, num_users=2, group_size=2, heldout_per_user=2, **kwargs)


def test_same_user_mask_marks_each_users_block():
    from bump_pl.core.reward import same_user_mask

    mask = same_user_mask(first_user=1, num_row_users=2, rows_per_user=2, num_users=3, cols_per_user=1)
    expected = torch.tensor([[0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]], dtype=torch.bool)
    assert torch.equal(mask, expected)


def test_hybrid_scores_rank_over_the_scored_list_with_its_chance_level():
    """U=3, G=1, K=1; the judge scored profile 0's own item and item 2 (hard negative), not item 1.

    profile_to_item row 0: own item 0.5 below item 2's 0.7, item 1 unscored (ranked last) -> rank 2 of
    {0.5, 0.7}: 1/log2(3) (global, with item 1's 0.9 counted, would be rank 3: 1/log2(4) = 0.5).
    Chance over 1 + 1 candidates: (1/2) * (d(1) + d(2)) / d(1).
    """
    from bump_pl.core.negatives import rank_unscored_last

    p2i = torch.tensor([[0.5, 0.9, 0.7], [0.1, 0.3, 0.2], [0.0, 0.4, 0.6]])
    scored = torch.tensor([[True, False, True], [False, True, True], [True, False, True]])
    i2p = torch.eye(3)
    sizes = dict(num_users=3, group_size=1, heldout_per_user=1, alpha=1.0)
    hybrid = bidirectional_reward(rank_unscored_last(p2i, scored), i2p, **sizes, hard_negatives=1)
    full = bidirectional_reward(p2i, i2p, **sizes)
    assert float(hybrid.profile_to_item[0]) == pytest.approx(d(2))
    assert float(full.profile_to_item[0]) == pytest.approx(d(3))
    assert float(hybrid.chance_profile_to_item) == pytest.approx(0.5 * (d(1) + d(2)))
    assert float(hybrid.chance_item_to_profile) == pytest.approx(0.5 * (d(1) + d(2)))
    assert float(full.chance_profile_to_item) == pytest.approx((d(1) + d(2) + d(3)) / 3)
    # k at or above the negatives: the chance of the full ranking
    assert float(bidirectional_reward(p2i, i2p, **sizes, hard_negatives=2).chance) == pytest.approx(float(full.chance))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"negatives": "remote"}, "model.reward.negatives must be 'global', 'local' or 'hybrid'"),
        ({"hard_negatives": -1}, "model.reward.hard_negatives must be an int >= 0"),
        ({"negatives": "hybrid", "hard_negatives": 0}, "hard_negatives \\+ model.reward.sampled_negatives must be >= 1"),
        ({"sampled_negatives": 1.5}, "model.reward.sampled_negatives must be an int >= 0"),
        ({"sampled_negatives": 4}, "sampled_negatives=4 needs model.reward.negatives: hybrid, got 'global'"),
    ],
)
def test_bad_reward_settings_name_the_option(kwargs, message):
    from bump_pl.core.reward import RewardSettings

    with pytest.raises(ValueError, match=message):
        RewardSettings(**kwargs)


@pytest.mark.parametrize(
    ("users", "world", "negatives", "fails"),
    [(1, 1, "global", True), (1, 2, "global", False), (1, 2, "hybrid", False), (1, 2, "local", True), (2, 1, "local", False)],
)
def test_ranking_size_counts_every_ranks_users_unless_local(users, world, negatives, fails):
    from bump_pl.core.reward import check_ranking_size

    if fails:
        with pytest.raises(ValueError, match=f"data.users_per_batch={users} on {world} rank"):
            check_ranking_size(users, world, negatives)
    else:
        check_ranking_size(users, world, negatives)
