"""bump-downstream on the real MovieLens ratings (skipped when ../shared/data/movielens-rating is absent):
every dev question scored with LaMP-3's rating metric (generated answers and the ratings' likelihoods), and BM25
ranks same-genre items first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bump_pl.data import get_task
from bump_pl.cli.downstream import main
from bump_pl.downstream.inputs import read_split
from bump_pl.downstream.prompts import VARIANTS
from bump_pl.downstream.retrieval import rank_by_bm25

TASK = get_task("MovieLens_rating")


def test_retrieval_on_real_histories_prefers_items_sharing_the_questions_genres(movielens_dir: Path) -> None:
    users = read_split(movielens_dir, "dev", TASK)
    assert len(users) == 83 and all(len(user.questions) == 1 for user in users)
    top_shares, chance = [], []
    for user in users:
        question = user.questions[0]
        genres = question.input.rsplit("(genres: ", 1)[1].rstrip(")").split(", ")
        lines = [TASK.render(item) for item in user.items]
        shared = [any(genre in line for genre in genres) for line in lines]
        top_shares.append(shared[rank_by_bm25(question.input, lines)[0]])
        chance.append(sum(shared) / len(shared))
    # the top item shares a genre far more often than a random item of the same history does
    # (measured: 0.89 vs 0.56; a year or title word can outrank the genres, so not always)
    assert sum(top_shares) / len(users) > 0.8 > 0.65 > sum(chance) / len(users)


def test_every_dev_question_is_scored_as_a_rating(movielens_dir: Path, tmp_path: Path) -> None:
    users = read_split(movielens_dir, "dev", TASK)
    profiles = tmp_path / "profiles.jsonl"
    profiles.write_text("".join(json.dumps({"user_id": u.user_id, "profile": "likes dramas"}) + "\n" for u in users))
    out = tmp_path / "report"
    with pytest.raises(SystemExit) as exit_info:  # the failure policy: main always exits
        main(["--data-dir", str(movielens_dir), "--split", "dev", "--profiles", str(profiles), "--mode", "zero_shot",
              "--backbone", "tiny-random-llama", "--max-new-tokens", "1", "--context-tokens", "16",
              "--max-question-tokens", "64", "--eval-batch-size", "32", "--bootstrap-samples", "50", "--out", str(out)])
    assert exit_info.value.code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["task"] == "MovieLens_rating" and report["metric_task"] == "LaMP_3"
    assert report["num_questions"] == dict.fromkeys((*VARIANTS, "other_user_profile"), 83)
    assert all(set(report["metrics"][v]) == {"MAE", "RMSE"} for v in VARIANTS)
    ranked = report["rank_classification"]  # ratings 1-5 by likelihood, as LaMP-3's
    assert ranked["options"] == ["1", "2", "3", "4", "5"] and ranked["kinds"] == ["argmax", "expected"]
    assert all(set(ranked["metrics"][v]) == {"MAE@argmax", "RMSE@argmax", "MAE@expected", "RMSE@expected"} for v in VARIANTS)
