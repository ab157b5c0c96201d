"""Hybrid negatives as pure tensor functions: hand-worked selections, the rank-last fill, NDCG over the
scored set, and the sampled tail (uniform draws, imputation whose expected rank is the true one)."""

import itertools

import pytest
import torch

from bump_pl.core.negatives import (
    impute_from_sample,
    rank_unscored_last,
    sampled_negatives,
    sampled_chance_ndcg,
    scored_candidates,
)
from bump_pl.core.reward import bidirectional_reward, chance_ndcg, same_user_mask
from bump_pl.metrics.functional import multi_positive_ndcg

RETRIEVAL = torch.tensor([[0.9, 0.1, 0.5, 0.7], [0.2, 0.8, 0.3, 0.1]])
POSITIVE = torch.tensor([[True, False, False, False], [False, False, True, False]])


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        (0, [[1, 0, 0, 0], [0, 0, 1, 0]]),  # positives only
        (1, [[1, 0, 0, 1], [0, 1, 1, 0]]),  # row 0: 0.7 (col 3) is the hardest negative; row 1: 0.8 (col 1)
        (2, [[1, 0, 1, 1], [1, 1, 1, 0]]),
        (3, [[1, 1, 1, 1], [1, 1, 1, 1]]),  # every negative
        (9, [[1, 1, 1, 1], [1, 1, 1, 1]]),
    ],
)
def test_scored_candidates_are_the_positives_and_the_k_highest_negatives(k, expected):
    assert scored_candidates(RETRIEVAL, POSITIVE, k).tolist() == torch.tensor(expected, dtype=torch.bool).tolist()


def test_a_positive_is_scored_even_when_the_retriever_ranks_it_last():
    retrieval = torch.tensor([[-5.0, 1.0, 2.0]])
    assert scored_candidates(retrieval, torch.tensor([[True, False, False]]), 1).tolist() == [[True, False, True]]


def test_tied_negatives_take_the_lower_column_first():
    retrieval = torch.tensor([[1.0, 0.5, 0.5, 0.5]])
    assert scored_candidates(retrieval, torch.tensor([[True, False, False, False]]), 2).tolist() == [[True, True, True, False]]


def test_bad_selection_input_is_refused():
    with pytest.raises(ValueError, match="k must be an int >= 0"):
        scored_candidates(RETRIEVAL, POSITIVE, -1)
    with pytest.raises(ValueError, match="must both be"):
        scored_candidates(RETRIEVAL, POSITIVE[:, :3], 1)
    with pytest.raises(ValueError, match="non-finite"):
        scored_candidates(torch.tensor([[float("nan"), 1.0]]), torch.tensor([[True, False]]), 1)


def test_unscored_entries_go_below_the_lowest_scored_one_of_their_row():
    scores = torch.tensor([[3.0, 9.0, -2.0, 7.0], [0.5, 4.0, 8.0, 1.0], [1e30, 2e30, 0.0, 0.0]])
    scored = torch.tensor([[True, False, True, False], [True, True, False, True], [True, True, False, False]])
    out = rank_unscored_last(scores, scored)
    # lowest scored m: -2 -> -2 - 2 = -4; 0.5 -> 0.5 - 1 = -0.5; 1e30 -> 1e30 - 1e30 = 0
    expected = torch.tensor([[3.0, -4.0, -2.0, -4.0], [0.5, 4.0, -0.5, 1.0], [1e30, 2e30, 0.0, 0.0]])
    assert torch.equal(out, expected)
    assert torch.equal(rank_unscored_last(scores, torch.ones_like(scored)), scores)
    with pytest.raises(ValueError, match="at least one scored entry"):
        rank_unscored_last(scores, torch.zeros_like(scored))


@pytest.mark.parametrize(("hard", "sampled"), [(None, 0), (3, 0), (12, 4), (0, 20), (2, 0)])
def test_the_estimators_chance_is_the_lists_chance_when_nothing_is_imputed(hard, sampled):
    scored_list = 4 + (12 if hard is None else min(hard, 12)) + (sampled if hard is not None else 0)
    for k in (None, 3):
        assert sampled_chance_ndcg(4, 12, hard, sampled, k) == pytest.approx(chance_ndcg(4, min(scored_list, 16), k))


def test_dense_filled_ndcg_equals_ndcg_over_the_scored_list_alone():
    gen = torch.Generator().manual_seed(0)
    num_users, group, heldout, k = 5, 3, 2, 3
    scores = torch.randn(num_users * group, num_users * heldout, generator=gen)
    scores[0, :4] = 0.25  # ties, positives included
    retrieval = torch.randn(scores.shape, generator=gen)
    positive = same_user_mask(0, num_users, group, num_users, heldout)
    scored = scored_candidates(retrieval, positive, k)
    dense = multi_positive_ndcg(rank_unscored_last(scores, scored), positive)
    for row in range(scores.shape[0]):
        columns = scored[row]
        assert int(columns.sum()) == heldout + k
        alone = multi_positive_ndcg(scores[row, columns][None], positive[row, columns][None])
        torch.testing.assert_close(dense[row], alone[0], rtol=0, atol=1e-6)
    # the profile_to_item direction of the reward is that NDCG
    i2p = torch.randn(num_users * heldout, num_users * group, generator=gen)
    reward = bidirectional_reward(rank_unscored_last(scores, scored), i2p, num_users=num_users, group_size=group,
                                  heldout_per_user=heldout, hard_negatives=k)
    torch.testing.assert_close(reward.profile_to_item, dense)


SCORED = torch.tensor([[True, False, False, True, False, False]])  # a positive (col 0) and a hard negative (col 3)
KEYS = torch.tensor([[0.0, 0.4, 0.9, 0.0, 0.1, 0.6]])  # tail order by key: col 4, 1, 5, 2


@pytest.mark.parametrize(("m", "expected"), [(0, []), (1, [4]), (2, [1, 4]), (3, [1, 4, 5]), (4, [1, 2, 4, 5]), (9, [1, 2, 4, 5])])
def test_the_sample_is_the_m_lowest_keys_among_the_unscored(m, expected):
    sampled = sampled_negatives(SCORED, KEYS, m)
    assert sampled[0].nonzero().flatten().tolist() == expected
    assert not bool((sampled & SCORED).any())


def test_unsampled_entries_copy_the_sampled_ones_in_turns():
    scores = torch.tensor([[5.0, 10.0, 20.0, 4.0, 30.0, 40.0]])
    sampled = sampled_negatives(SCORED, KEYS, 1)  # col 4 (30.0) stands for cols 1, 5 and 2
    assert impute_from_sample(scores, SCORED, sampled, KEYS).tolist() == [[5.0, 30.0, 30.0, 4.0, 30.0, 30.0]]
    sampled = sampled_negatives(SCORED, KEYS, 2)  # tail order 4, 1 | 5, 2: col 5 copies col 4, col 2 copies col 1
    assert impute_from_sample(scores, SCORED, sampled, KEYS).tolist() == [[5.0, 10.0, 10.0, 4.0, 30.0, 30.0]]


def test_every_unscored_entry_sampled_gives_the_full_scores_exactly():
    scores = torch.randn(3, 7, generator=torch.Generator().manual_seed(0))
    scored = scored_candidates(torch.randn(3, 7), torch.eye(3, 7, dtype=torch.bool), 2)
    keys = torch.rand(3, 7)
    sampled = sampled_negatives(scored, keys, 4)
    assert torch.equal(impute_from_sample(scores, scored, sampled, keys), scores)


def test_the_imputed_count_above_a_positive_is_the_true_count_in_expectation():
    """Over every ordering of the 5 unscored candidates (all equally likely under i.i.d. keys), the
    mean number of imputed entries above each positive equals the true number above it."""
    scores = torch.tensor([[0.5, 0.9, 0.2, 0.7, 0.1, 0.8, 0.3]])
    positive = torch.tensor([[True, False, False, False, False, False, True]])
    scored = scored_candidates(torch.tensor([[0.0, 9.0, 0, 0, 0, 0, 0]]), positive, 1)  # col 1 is the hard negative
    unscored = (~scored[0]).nonzero().flatten()
    true_above = [int((scores[0] > scores[0, p]).sum()) for p in (0, 6)]
    for m in (1, 2, 3):
        totals = torch.zeros(2, dtype=torch.float64)
        orders = list(itertools.permutations(range(len(unscored))))
        for order in orders:
            keys = torch.zeros(1, 7)
            keys[0, unscored] = torch.tensor(order, dtype=torch.float32)
            imputed = impute_from_sample(scores, scored, sampled_negatives(scored, keys, m), keys)[0]
            totals += torch.tensor([float((imputed > imputed[p]).sum()) for p in (0, 6)], dtype=torch.float64)
        assert (totals / len(orders)).tolist() == pytest.approx(true_above), m


def test_imputation_needs_a_sample_where_something_is_unscored():
    with pytest.raises(ValueError, match="no sampled one"):
        impute_from_sample(torch.zeros(1, 6), SCORED, sampled_negatives(SCORED, KEYS, 0), KEYS)
    with pytest.raises(ValueError, match="m must be an int >= 0"):
        sampled_negatives(SCORED, KEYS, -1)
    with pytest.raises(ValueError, match=r"keys must both be \[Q, C\]"):
        sampled_negatives(SCORED, KEYS[:, :3], 1)
    with pytest.raises(ValueError, match="keys has 1 non-finite"):
        sampled_negatives(SCORED, KEYS.clone().fill_(0.5).index_fill_(1, torch.tensor([2]), float("nan")), 1)


@pytest.mark.parametrize(("hard", "m", "k"), [(0, 8, None), (4, 4, None), (8, 8, None), (2, 3, 5)])
def test_the_logged_chance_is_the_sampled_estimators_own_by_monte_carlo(hard, m, k):
    """A judge that ranks at random, through the imputed rows: the mean reward over 300 random score
    matrices (and draws) matches ``chance`` within 0.005, and lies above ``global``'s chance
    (the plug-in NDCG's upward bias; before, ``chance`` was ``global``'s: 0.319 where the reward is 0.395)."""
    gen = torch.Generator().manual_seed(hard * 10 + m)
    users, group, heldout = 16, 4, 8
    sizes = dict(num_users=users, group_size=group, heldout_per_user=heldout, k=k)
    directions = [same_user_mask(0, users, group, users, heldout), same_user_mask(0, users, heldout, users, group)]
    total, trials = 0.0, 300
    for _ in range(trials):
        rows = []
        for positive in directions:
            scored = scored_candidates(torch.rand(positive.shape, generator=gen), positive, hard)
            keys = torch.rand(positive.shape, generator=gen)
            scores = torch.rand(positive.shape, generator=gen, dtype=torch.float64)
            rows.append(impute_from_sample(scores, scored, sampled_negatives(scored, keys, m), keys))
        out = bidirectional_reward(*rows, **sizes, hard_negatives=hard, sampled_negatives=m)
        total += float(out.total.mean())
    assert total / trials == pytest.approx(float(out.chance), abs=0.005)
    assert float(out.chance) > float(bidirectional_reward(*rows, **sizes).chance) + 0.01
    if (hard, m, k) == (0, 8, None):
        assert float(out.chance) == pytest.approx(0.395, abs=0.001)
