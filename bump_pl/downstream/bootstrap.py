"""Paired bootstrap intervals of LaMP metrics over users: per variant and per difference.

Every variant answered the same ``N`` questions, so one set of ``B`` resamples (seeded) serves them
all: a variant's interval comes from its metric on each resample, a difference ``profile - baseline``
from the two metrics on the *same* resample (paired), which removes the between-question variance the
two share. A resample draws the ``U`` users with replacement and takes **all** of each drawn user's
questions: a user's questions share the user's profile and habits, so they are not independent, and
resampling them one by one would make intervals too narrow. With one question per user this is the
plain question bootstrap, draw for draw. Intervals are percentile intervals at ``level``. Metrics are
recomputed with :func:`bump_pl.metrics.lamp.evaluate_lamp` on each resample (RMSE and macro F1 are not
means over questions), except ROUGE, a mean of per-question scores, which is scored once per question
and then averaged per resample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from bump_pl.data.tasks import get_task
from bump_pl.metrics.lamp import evaluate_lamp

Interval = dict[str, float]  # {"value", "low", "high"}


def resample_indices(num_questions: int, samples: int, seed: int) -> np.ndarray:
    """``[samples, num_questions]`` question indices drawn with replacement (seeded)."""
    if num_questions < 1 or samples < 1:
        raise ValueError(f"bootstrap needs >= 1 question and >= 1 sample, got {num_questions} and {samples}")
    return np.random.default_rng(seed).integers(0, num_questions, size=(samples, num_questions))


def resample_users(users: Sequence[str], samples: int, seed: int) -> list[np.ndarray]:
    """``samples`` resamples of question indices: the users of ``users`` (one per question) drawn with
    replacement (seeded), each drawn user contributing all of their questions, in question order."""
    groups: dict[str, list[int]] = {}
    for position, user in enumerate(users):
        groups.setdefault(user, []).append(position)
    members = [np.array(positions) for positions in groups.values()]
    return [np.concatenate([members[user] for user in draw]) for draw in resample_indices(len(members), samples, seed)]


def _scores_per_resample(
    task: str, answers: Sequence[str], golds: Sequence[str], draws: Sequence[np.ndarray]
) -> dict[str, np.ndarray]:
    """``{metric: [samples]}``: the metric on each resample of the ``(answer, gold)`` pairs."""
    if get_task(task).metric == "generation":
        per_question = [evaluate_lamp(task, {"q": answer}, {"q": gold}) for answer, gold in zip(answers, golds)]
        scores = {name: np.array([row[name] for row in per_question]) for name in per_question[0]}
        return {name: np.array([values[draw].mean() for draw in draws]) for name, values in scores.items()}
    rows = []
    for draw in draws:
        keys = [str(position) for position in range(len(draw))]
        rows.append(evaluate_lamp(task, dict(zip(keys, (answers[i] for i in draw))), dict(zip(keys, (golds[i] for i in draw)))))
    return {name: np.array([row[name] for row in rows]) for name in rows[0]}


def percentile_interval(value: float, draws: np.ndarray, level: float) -> Interval:
    """``value`` with the ``level`` percentile interval of its ``[B]`` bootstrap replicates ``draws``."""
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return {"value": float(value), "low": float(low), "high": float(high)}


def bootstrap_report(
    task: str,
    answers: Mapping[str, Sequence[str]],
    golds: Sequence[str],
    baselines: Sequence[str],
    users: Sequence[str],
    *,
    samples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[dict[str, dict[str, Interval]], dict[str, dict[str, Interval]]]:
    """Point estimates with percentile intervals of every variant's metrics, and of ``profile - b`` for each baseline.

    Args:
        task: LaMP task whose official metric scores the answers.
        answers: ``{variant: [answer per question]}``, all in the order of ``golds``; must hold ``profile``.
        golds: the gold output of each question.
        baselines: variants the profile is compared with.
        users: the user of each question (the unit resampled).

    Returns:
        ``({variant: {metric: interval}}, {"profile - b": {metric: interval}})``.
    """
    if len(users) != len(golds):
        raise ValueError(f"bootstrap needs the user of each of the {len(golds)} questions, got {len(users)}")
    draws = resample_users(users, samples, seed)
    keys = [str(position) for position in range(len(golds))]
    point = {variant: evaluate_lamp(task, dict(zip(keys, rows)), dict(zip(keys, golds))) for variant, rows in answers.items()}
    resampled = {variant: _scores_per_resample(task, rows, golds, draws) for variant, rows in answers.items()}
    variants = {
        variant: {name: percentile_interval(value, resampled[variant][name], level) for name, value in point[variant].items()}
        for variant in answers
    }
    differences = {
        f"profile - {baseline}": {
            name: percentile_interval(
                point["profile"][name] - point[baseline][name],
                resampled["profile"][name] - resampled[baseline][name],
                level,
            )
            for name in point["profile"]
        }
        for baseline in baselines
    }
    return variants, differences
