"""Deterministic, rank-sharded, resumable batching of users into groups of U.

The train order is a pure function of ``(seed, epoch, rank, world_size)``: users are shuffled per
epoch with a seeded generator, every rank takes its own equal-sized contiguous shard of that
permutation (disjoint across ranks), and the shard is cut into U-user groups, dropping the
incomplete last group. Because this does its own sharding, the trainer must run with
``use_distributed_sampler=False``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ShardedUserSampler(Sampler[int]):
    """User indices in this epoch's seeded shuffle, restricted to this rank's shard.

    Lightning calls ``set_epoch`` on ``dataloader.batch_sampler.sampler`` at every epoch start.
    """

    def __init__(self, num_users: int, seed: int, rank: int = 0, world_size: int = 1, shuffle: bool = True) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.num_users, self.seed, self.rank, self.world_size, self.shuffle = num_users, seed, rank, world_size, shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose permutation the next iteration yields."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_users // self.world_size

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.num_users, generator=generator).tolist()
        else:
            order = list(range(self.num_users))
        per_rank = len(self)
        yield from order[self.rank * per_rank : (self.rank + 1) * per_rank]


class UserGroupBatchSampler(Sampler[list[tuple[int, int]]]):
    """Groups of ``users_per_batch`` distinct users; can skip the first batches of an epoch.

    Each group is a list of ``(epoch, user index)`` pairs: the dataset draws a user's held-out items
    from ``(seed, epoch)``, which stays correct inside worker processes that never see ``set_epoch``.

    ``resume_from(epoch, batches_done)`` makes the next iteration over ``epoch`` skip its first
    ``batches_done`` groups (once), so a resumed fit neither repeats nor skips a batch.
    ``batches_yielded`` counts the groups yielded so far in the current epoch (skipped ones included).
    """

    def __init__(self, sampler: ShardedUserSampler, users_per_batch: int, drop_last: bool = True) -> None:
        if users_per_batch < 1:
            raise ValueError(f"users_per_batch must be >= 1, got {users_per_batch}")
        self.sampler, self.users_per_batch, self.drop_last = sampler, users_per_batch, drop_last
        self.batches_yielded = 0
        self._resume: tuple[int, int] | None = None

    def resume_from(self, epoch: int, batches_done: int) -> None:
        """Skip the first ``batches_done`` groups the next time ``epoch`` is iterated."""
        self._resume = (epoch, batches_done)

    def __len__(self) -> int:
        full, rest = divmod(len(self.sampler), self.users_per_batch)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        skip = 0
        if self._resume is not None and self._resume[0] == self.sampler.epoch:
            skip = self._resume[1]
            self._resume = None
        epoch = self.sampler.epoch
        indices = [(epoch, index) for index in self.sampler]
        self.batches_yielded = min(skip, len(self))
        for number in range(self.batches_yielded, len(self)):
            group = indices[number * self.users_per_batch : (number + 1) * self.users_per_batch]
            self.batches_yielded = number + 1
            yield group


def order_change_note(saved_world_size: int, world_size: int) -> str:
    """The line a fit resumed on another number of processes prints: the step counter, run folder and
    profile cache continue, but the users each step sees do not match the uninterrupted run's."""
    def processes(count: int) -> str:
        return f"{count} process{'es' if count != 1 else ''}"

    return (
        f"bump: resuming a run of {processes(saved_world_size)} on {processes(world_size)}: the order of users"
        " changes (it is a function of seed, epoch, rank and world size), and the rest of this epoch may"
        " repeat or skip some users; the step counter, run folder and profile cache continue"
    )


class MergedRankBatches(Sampler[list[tuple[int, int]]]):
    """The groups several ranks' samplers yield at the same step, concatenated in rank order.

    ``bump validate`` of a checkpoint fitted on ``W`` ranks runs on fewer processes: each process
    stands for ``W / w`` of the fit's ranks (one :class:`UserGroupBatchSampler` each), so every
    in-batch ranking holds the same users the fit's did and ``val/ndcg`` is the fit's figure.
    """

    def __init__(self, parts: list[UserGroupBatchSampler]) -> None:
        if not parts:
            raise ValueError("MergedRankBatches needs at least one rank's sampler")
        self.parts = parts

    def __len__(self) -> int:
        return min(len(part) for part in self.parts)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for groups in zip(*self.parts):
            yield [pair for group in groups for pair in group]
