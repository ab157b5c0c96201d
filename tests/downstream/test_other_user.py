"""The control ``other_user_profile``: a fixed derangement of the split's profiles, prompted as ``profile`` is."""

from __future__ import annotations

from pathlib import Path

import pytest

from bump_pl.data import get_task
from bump_pl.downstream.inputs import read_split
from bump_pl.downstream.other_user import derangement, other_user_profiles
from bump_pl.downstream.report import summarize
from bump_pl.downstream.run import Questions, run_downstream
from bump_pl.downstream.settings import DownstreamSettings

TASK = get_task("LaMP_3")


@pytest.mark.parametrize("count", [2, 3, 10, 83])
def test_every_user_gets_another_users_profile_each_profile_once_the_same_for_a_seed(count: int) -> None:
    users = [f"u{i}" for i in range(count)]
    swap = derangement(users, seed=4)
    assert set(swap) == set(users) and sorted(swap.values()) == sorted(users)  # a permutation
    assert all(user != other for user, other in swap.items())  # no fixed point
    assert swap == derangement(list(reversed(users)), seed=4)  # fixed given the seed, whatever the order given
    if count > 3:
        assert swap != derangement(users, seed=5)


def test_one_user_has_no_one_to_swap_with() -> None:
    with pytest.raises(ValueError, match="needs at least 2 users"):
        derangement(["u1", "u1"], seed=0)


def test_profiles_are_deranged_within_each_split() -> None:
    profiles = {(u, s): f"{s}:{u}" for s in ("train", "dev") for u in ("a", "b", "c")}
    swapped = other_user_profiles(profiles, {"train": ["a", "b", "c"], "dev": ["a", "b"]}, seed=0)
    assert set(swapped) == {("a", "train"), ("b", "train"), ("c", "train"), ("a", "dev"), ("b", "dev")}
    assert swapped[("a", "dev")] == "dev:b" and swapped[("b", "dev")] == "dev:a"
    assert all(text.startswith(f"{split}:") and text != f"{split}:{user}" for (user, split), text in swapped.items())


def test_the_control_is_prompted_as_the_profile_with_another_users_text_and_reported(lamp3_dir: Path) -> None:
    users = read_split(lamp3_dir, "dev", TASK)
    profiles = {(u.user_id, "dev"): f"PROFILE<{u.user_id}>" for u in users}
    evaluation = Questions.of(users, "dev", None)
    settings = DownstreamSettings(backbone="tiny-random-llama", mode="zero_shot", max_answer_tokens=2, context_tokens=64)
    result = run_downstream(settings, TASK, profiles, None, evaluation, other_user_profile=True)
    assert list(result.answers) == ["no_profile", "recent_history", "retrieved_history", "profile", "other_user_profile"]
    prompts = {v: [r["prompt"] for r in result.records if r["variant"] == v] for v in ("profile", "other_user_profile")}
    swap = derangement(evaluation.user_ids, settings.seed)
    for user, own, other in zip(evaluation.user_ids, prompts["profile"], prompts["other_user_profile"], strict=True):
        assert other == own.replace(f"PROFILE<{user}>", f"PROFILE<{swap[user]}>") and other != own
    summary = summarize(result, "LaMP_3", evaluation.answers, samples=20)
    assert list(summary["differences"])[-1] == "profile - other_user_profile"
    assert list(summary["rank_classification"]["differences"])[-1] == "profile - other_user_profile"
