"""Per-user examples: the held-out/context split of one user's rendered history.

Held-out items are drawn per ``(seed, epoch, user)`` (``"random"``, a fresh draw every epoch unless
``redraw`` is off) or are the ``K`` most recent items (``"latest"``). Context is every other item,
oldest first, cut to the ``max_context_items`` most recent.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from torch.utils.data import Dataset

from bump_pl.data.errors import LampFormatError
from bump_pl.data.users import UserHistory

HeldoutStrategy = Literal["random", "latest"]


@dataclass
class UserExample:
    """One user's split history: ``context`` (oldest first) and ``K`` ``heldout`` items, rendered."""

    user_id: str
    context: list[str]
    heldout: list[str]


def render_users(users: list[UserHistory], render: Callable[[dict[str, Any]], str], source: str) -> list[list[str]]:
    """Every user's items rendered as one line each (oldest first) by ``render`` (a task's
    ``TaskSpec.render`` or an ``ItemTemplate.render``); ``source`` names the file in errors."""
    rendered = []
    for user in users:
        lines = []
        for item in user.items:
            try:
                lines.append(render(item))
            except ValueError as err:
                raise LampFormatError(source, f"user {user.user_id!r}: {err}") from None
        rendered.append(lines)
    return rendered


class UserHeldoutDataset(Dataset[UserExample]):
    """Indexed by ``(epoch, user index)`` pairs (see ``UserGroupBatchSampler``).

    Args:
        user_ids: the users' ids.
        histories: each user's rendered items, oldest first.
        heldout_per_user: K; 0 gives prediction examples (all history is context).
        strategy: ``"random"`` or ``"latest"``.
        seed: seeds the random draws.
        redraw: when False the draw ignores the epoch (fixed val/test draws).
        max_context_items: keep at most this many most recent context items (None: all).
        heldout_histories: the same items rendered for the judge (``ItemTemplate``), position for
            position; the held-out items are taken from these. None: from ``histories``.
    """

    def __init__(
        self,
        user_ids: list[str],
        histories: list[list[str]],
        heldout_per_user: int,
        strategy: HeldoutStrategy,
        seed: int,
        redraw: bool,
        max_context_items: int | None = None,
        heldout_histories: list[list[str]] | None = None,
    ) -> None:
        if strategy not in ("random", "latest"):
            raise ValueError(f"heldout_strategy must be 'random' or 'latest', got {strategy!r}")
        short = [uid for uid, items in zip(user_ids, histories) if len(items) < heldout_per_user]
        if short:
            raise ValueError(f"users {short[:3]} have fewer than heldout_per_user={heldout_per_user} items")
        self.user_ids, self.histories = user_ids, histories
        self.k, self.strategy, self.seed, self.redraw = heldout_per_user, strategy, seed, redraw
        self.max_context_items = max_context_items
        if heldout_histories is not None and [len(h) for h in heldout_histories] != [len(h) for h in histories]:
            raise ValueError("heldout_histories must render the same items as histories, user for user")
        self.heldout_histories = heldout_histories if heldout_histories is not None else histories

    def __len__(self) -> int:
        return len(self.user_ids)

    def heldout_positions(self, epoch: int, index: int) -> list[int]:
        """Positions (into the user's history) of the K held-out items, ascending."""
        count = len(self.histories[index])
        if self.strategy == "latest":
            return list(range(count - self.k, count))
        draw = epoch if self.redraw else 0
        rng = random.Random(f"{self.seed}:{draw}:{self.user_ids[index]}")
        return sorted(rng.sample(range(count), self.k))

    def __getitem__(self, key: tuple[int, int]) -> UserExample:
        epoch, index = key
        items = self.histories[index]
        chosen = set(self.heldout_positions(epoch, index))
        context = [item for position, item in enumerate(items) if position not in chosen]
        if self.max_context_items is not None:
            context = context[len(context) - self.max_context_items :] if self.max_context_items > 0 else []
        heldout = [self.heldout_histories[index][position] for position in sorted(chosen)]
        return UserExample(self.user_ids[index], context, heldout)
