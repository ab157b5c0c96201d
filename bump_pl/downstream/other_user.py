"""The control variant ``other_user_profile``: each user is shown another user's profile.

A profile can help a downstream model by its format (a short summary of the kind of thing users
write) as well as by what it says about this user. Giving every user the profile of another user of
the same split, written by the same generator at the same budget, keeps the format and removes the
person: ``profile - other_user_profile`` is what the profile adds about *this* user.

Who gets whose profile is a fixed derangement (no user keeps their own): the split's users, sorted,
are shuffled by ``seed`` into one cycle, and each user gets the profile of the next user of the cycle.
In ``sft`` mode the control's adapter learns from the train users' deranged profiles likewise, so it
is a model that learned to use a profile that is not the asker's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

ProfileMap = Mapping[tuple[str, str], str]  # (user_id, split) -> profile


def derangement(user_ids: Iterable[str], seed: int) -> dict[str, str]:
    """``{user: the user whose profile they get}``: one seeded cycle through the distinct ``user_ids``, so no fixed point."""
    users = sorted(set(user_ids))
    if len(users) < 2:
        raise ValueError(f"other_user_profile needs at least 2 users to swap profiles between, got {len(users)}")
    cycle = [users[i] for i in np.random.default_rng(seed).permutation(len(users))]
    return {user: cycle[(position + 1) % len(cycle)] for position, user in enumerate(cycle)}


def other_user_profiles(profiles: ProfileMap, users_by_split: Mapping[str, Iterable[str]], seed: int) -> dict[tuple[str, str], str]:
    """``{(user, split): another user's profile}`` for the users of each split, deranged within the split."""
    return {
        (user, split): profiles[(other, split)]
        for split, users in users_by_split.items()
        for user, other in derangement(users, seed).items()
    }
