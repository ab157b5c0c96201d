"""negative_user_pairs: each user and each column holds its own user and m others, the others are a
uniform sample, the draw is the seed's; negative_pair_mask expands it as a loop would."""

from __future__ import annotations

import pytest
import torch

from bump_pl.core.negative_users import negative_pair_mask, negative_user_pairs


@pytest.mark.parametrize(("U", "m"), [(2, 1), (5, 2), (8, 3), (8, 6)])
def test_every_row_and_every_column_holds_its_own_user_and_m_others(U, m):
    for seed in range(20):
        pairs = negative_user_pairs(U, m, seed)
        assert bool(pairs.diagonal().all())
        assert pairs.sum(dim=1).tolist() == [m + 1] * U
        assert pairs.sum(dim=0).tolist() == [m + 1] * U


def test_the_others_are_a_uniform_sample_in_both_directions():
    # every ordered pair (u, v), u != v, is drawn with probability m / (U - 1) = 0.4; over 4000 seeds
    # the standard error of a frequency is about 0.008
    U, m, draws = 6, 2, 4000
    counts = sum(negative_user_pairs(U, m, seed).float() for seed in range(draws))
    frequency = counts / draws
    off_diagonal = frequency[~torch.eye(U, dtype=torch.bool)]
    assert float((off_diagonal - 0.4).abs().max()) < 0.04


def test_the_seed_decides_the_draw():
    assert torch.equal(negative_user_pairs(8, 2, 7), negative_user_pairs(8, 2, 7))
    assert len({tuple(negative_user_pairs(8, 2, seed).flatten().tolist()) for seed in range(10)}) > 5


def test_m_at_or_above_the_other_users_pairs_everyone():
    assert bool(negative_user_pairs(4, 3, 0).all()) and bool(negative_user_pairs(4, 9, 1).all())


def test_the_mask_expands_each_user_to_its_rows_and_columns():
    U, m, G, K = 5, 2, 3, 2
    pairs, mask = negative_user_pairs(U, m, 11), negative_pair_mask(U, m, G, K, 11)
    assert mask.shape == (U * G, U * K)
    for r in range(U * G):
        for j in range(U * K):
            assert bool(mask[r, j]) == bool(pairs[r // G, j // K])


@pytest.mark.parametrize(("U", "m"), [(1, 1), (4, 0), (4, -1), (4, 1.5)])
def test_bad_sizes_are_refused_in_one_line(U, m):
    with pytest.raises(ValueError, match=r"^negative_user_pairs: need num_users >= 2 and negative_users >= 1"):
        negative_user_pairs(U, m, 0)
