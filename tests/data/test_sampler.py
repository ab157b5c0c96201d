"""Batch sampler: pure function of (seed, epoch, rank, world size), disjoint shards, exact resume."""

from __future__ import annotations

import pytest

from bump_pl.data.sampler import ShardedUserSampler, UserGroupBatchSampler


def _groups(num_users: int, users: int, seed: int, epoch: int, rank: int = 0, world: int = 1) -> list[list[tuple[int, int]]]:
    sampler = ShardedUserSampler(num_users, seed, rank, world)
    sampler.set_epoch(epoch)
    return list(UserGroupBatchSampler(sampler, users))


def test_pure_function_of_seed_and_epoch() -> None:
    assert _groups(23, 4, seed=1, epoch=0) == _groups(23, 4, seed=1, epoch=0)
    assert _groups(23, 4, seed=1, epoch=0) != _groups(23, 4, seed=1, epoch=1)
    assert _groups(23, 4, seed=1, epoch=0) != _groups(23, 4, seed=2, epoch=0)


def test_groups_are_distinct_full_and_tagged_with_the_epoch() -> None:
    groups = _groups(23, 4, seed=0, epoch=3)
    assert len(groups) == 5 == len(UserGroupBatchSampler(ShardedUserSampler(23, 0), 4))  # 23 // 4, last dropped
    flat = [index for group in groups for _, index in group]
    assert all(len(group) == 4 for group in groups) and len(set(flat)) == 20
    assert {epoch for group in groups for epoch, _ in group} == {3}


def test_ranks_are_disjoint_and_cover_all_users() -> None:
    shards = [{i for g in _groups(24, 3, seed=5, epoch=2, rank=r, world=2) for _, i in g} for r in (0, 1)]
    assert not shards[0] & shards[1] and shards[0] | shards[1] == set(range(24))
    with pytest.raises(ValueError, match="rank 2"):
        ShardedUserSampler(10, 0, rank=2, world_size=2)


def test_resume_skips_exactly_the_consumed_batches_once() -> None:
    full = _groups(30, 4, seed=0, epoch=1)
    sampler = ShardedUserSampler(30, 0)
    batches = UserGroupBatchSampler(sampler, 4)
    batches.resume_from(epoch=1, batches_done=3)
    sampler.set_epoch(0)
    assert list(batches) == _groups(30, 4, seed=0, epoch=0)  # other epoch: untouched, resume stays pending
    sampler.set_epoch(1)
    assert list(batches) == full[3:] and batches.batches_yielded == len(full)
    assert list(batches) == full  # applied once
