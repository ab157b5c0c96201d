"""The paired bootstrap resamples users with all their questions: the question bootstrap when each user has
one question, wider than it when a user's questions go together."""

from __future__ import annotations

import numpy as np
import pytest

from bump_pl.downstream.bootstrap import bootstrap_report, resample_indices, resample_users


def _mae(answers: list[str], golds: list[str], rows: np.ndarray) -> float:
    return float(np.mean([abs(float(answers[i]) - float(golds[i])) for i in rows]))


def _by_hand(answers: list[str], golds: list[str], users: list[str], samples: int, seed: int) -> tuple[float, float]:
    """The 95% percentile interval of MAE with users drawn by numpy directly (an independent reference)."""
    ids = list(dict.fromkeys(users))
    draws = np.random.default_rng(seed).integers(0, len(ids), size=(samples, len(ids)))
    maes = [_mae(answers, golds, np.array([i for u in draw for i, user in enumerate(users) if user == ids[u]])) for draw in draws]
    return tuple(np.percentile(maes, [2.5, 97.5]))


def _report(answers: dict[str, list[str]], golds: list[str], users: list[str], samples: int = 300):
    return bootstrap_report("LaMP_3", answers, golds, ["no_profile"], users, samples=samples, seed=7)


def test_one_question_per_user_is_the_question_bootstrap_draw_for_draw() -> None:
    users = [f"u{i}" for i in range(9)]
    assert all(np.array_equal(a, b) for a, b in zip(resample_users(users, 50, 3), resample_indices(9, 50, 3), strict=True))
    rng = np.random.default_rng(0)
    golds = [str(g) for g in rng.integers(1, 6, 9)]
    answers = {"profile": [str(a) for a in rng.integers(1, 6, 9)], "no_profile": ["3"] * 9}
    variants, differences = _report(answers, golds, users)
    draws = resample_indices(9, 300, 7)  # the old question bootstrap, recomputed here
    profile = [_mae(answers["profile"], golds, row) for row in draws]
    difference = [p - _mae(answers["no_profile"], golds, row) for p, row in zip(profile, draws)]
    assert [variants["profile"]["MAE"]["low"], variants["profile"]["MAE"]["high"]] == pytest.approx(np.percentile(profile, [2.5, 97.5]))
    low_high = [differences["profile - no_profile"]["MAE"]["low"], differences["profile - no_profile"]["MAE"]["high"]]
    assert low_high == pytest.approx(np.percentile(difference, [2.5, 97.5]))


def test_a_users_questions_are_resampled_together_and_widen_the_interval() -> None:
    rng = np.random.default_rng(1)
    users = [f"u{u}" for u in range(12) for _ in range(5)]  # 12 users, 5 questions each, interleaved below
    order = rng.permutation(len(users))
    users = [users[i] for i in order]
    error = {f"u{u}": int(rng.integers(0, 3)) for u in range(12)}  # each user's questions are all off by the same
    golds = ["3"] * len(users)
    answers = {"profile": [str(3 + error[user]) for user in users], "no_profile": ["3"] * len(users)}
    clustered = _report(answers, golds, users)[0]["profile"]["MAE"]
    assert [clustered["low"], clustered["high"]] == pytest.approx(_by_hand(answers["profile"], golds, users, 300, 7))
    naive = _report(answers, golds, [str(i) for i in range(len(users))])[0]["profile"]["MAE"]  # every question its own user
    assert clustered["value"] == naive["value"]
    assert clustered["high"] - clustered["low"] > 1.5 * (naive["high"] - naive["low"])
    for draw in resample_users(users, 20, 0):  # whole users: each drawn user brings all 5 of their questions
        drawn = [users[i] for i in draw]
        assert len(draw) == len(users) and all(drawn.count(user) % 5 == 0 for user in set(drawn))


def test_users_must_be_given_for_every_question() -> None:
    with pytest.raises(ValueError, match="the user of each of the 2 questions, got 1"):
        _report({"profile": ["1", "2"], "no_profile": ["1", "2"]}, ["1", "2"], ["u1"])
