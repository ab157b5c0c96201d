"""What to change when a split cannot fill one batch of users, worked out so the advice really works.

A split with no file of its own (``dev_questions.json``, ``test_questions.json``) is carved from the
train users: ``round(val_fraction * T)`` users each for val and for test, out of ``T`` train users.
Lowering ``users_per_batch`` alone does not help a carved split of 1 user, and raising
``val_fraction`` carves test as well, so the advice searches the settings that fill every split.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_USERS_PER_BATCH = 2  # a ranking needs one other user (bump_pl.core.reward.check_ranking_size)


@dataclass(frozen=True)
class Carve:
    """How val/test were carved from train: ``train_users`` before carving, the ``carved`` splits,
    the train ``source`` (file or dataset) and the ``val_fraction`` used."""

    train_users: int
    carved: tuple[str, ...]
    source: str
    val_fraction: float


def carve_fraction(train_users: int, carved: int, per_batch: int) -> float | None:
    """The smallest ``val_fraction`` (in hundredths) with which every carved split and the train
    users left fill one batch of ``per_batch`` users, or None when no fraction does."""
    for hundredths in range(1, 100):
        size = max(1, round(hundredths / 100 * train_users))
        if size >= per_batch and train_users - carved * size >= per_batch:
            return hundredths / 100
    return None


def carve_advice(carve: Carve, per_batch: int, world: int) -> str:
    """Where the users came from and the settings that fill one batch of every split."""
    files = " and ".join(f"{'dev' if split == 'val' else 'test'}_questions.json" for split in carve.carved)
    size = max(1, round(carve.val_fraction * carve.train_users))
    origin = (
        f"{' and '.join(carve.carved)} carved from train ({carve.source} has no {files}):"
        f" --data.val_fraction {carve.val_fraction} of {carve.train_users} train users is {size} user(s) each"
    )
    fraction = carve_fraction(carve.train_users, len(carve.carved), per_batch * world)
    if fraction is not None:
        return f"{origin}; set --data.val_fraction {fraction}, or add {files}"
    for smaller in range(per_batch - 1, MIN_USERS_PER_BATCH - 1, -1):
        fraction = carve_fraction(carve.train_users, len(carve.carved), smaller * world)
        if fraction is not None:
            return f"{origin}; set --data.users_per_batch {smaller} --data.val_fraction {fraction}, or add {files}"
    return f"{origin}; {carve.train_users} train users are too few to carve from: add {files}"


def batch_error(split: str, users: int, world: int, per_batch: int, carve: Carve | None) -> str:
    """The one-line error for a ``split`` of ``users`` that cannot fill one batch, with what to change."""
    line = f"{split}: {users} users over {world} rank(s) cannot fill one batch of users_per_batch={per_batch}"
    if carve is not None and (split in carve.carved or split == "train"):
        return f"{line}; {carve_advice(carve, per_batch, world)}"
    if users // world >= MIN_USERS_PER_BATCH:
        return f"{line}; lower --data.users_per_batch to {users // world} or add users to {split}'s file"
    return f"{line}; add users to {split}'s file"
