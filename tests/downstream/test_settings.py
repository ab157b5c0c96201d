"""DownstreamSettings: one declaration behind the callback and bump-downstream; the answer length per task."""

from __future__ import annotations

import pytest

from bump_pl.downstream.settings import DownstreamSettings, metric_task_of


@pytest.mark.parametrize(
    ("task", "answer_tokens", "metric_task"),
    [("LaMP_1", 4, "LaMP_1"), ("lamp-2", 8, "LaMP_2"), ("LaMP_3", 4, "LaMP_3"), ("LaMP_7", 64, "LaMP_7"), ("MovieLens_rating", 4, "LaMP_3")],
)
def test_a_null_answer_length_is_the_metric_tasks(task: str, answer_tokens: int, metric_task: str) -> None:
    resolved = DownstreamSettings(max_answer_tokens=None).for_task(task)
    assert (resolved.max_answer_tokens, resolved.metric_task) == (answer_tokens, metric_task)
    assert DownstreamSettings(max_answer_tokens=2).for_task(task).max_answer_tokens == 2  # a given length stays


def test_metric_task_given_wins_and_unknown_tasks_need_a_length() -> None:
    assert DownstreamSettings(metric_task="LaMP_2", max_answer_tokens=None).for_task("LaMP_3").max_answer_tokens == 8
    assert DownstreamSettings().for_task("Reviews").max_answer_tokens == 16  # the default length
    with pytest.raises(ValueError, match="max_answer_tokens is null but Reviews has no default answer length"):
        DownstreamSettings(max_answer_tokens=None).for_task("Reviews")
    assert metric_task_of("MovieLens_rating") == "LaMP_3"
