"""Synthetic users: deterministic, split by user, and really distinguishable from their histories."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from bump_pl.data import get_task, read_lamp
from bump_pl.cli.data import main
from bump_pl.data.synthetic import write_synthetic_lamp

TASKS = ("LaMP_2", "LaMP_3", "LaMP_7")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("task", TASKS)
def test_deterministic_per_seed(tmp_path: Path, task: str) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        write_synthetic_lamp(tmp_path / name, task, num_users=10, seed=seed, items_per_user=5)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert _files(tmp_path / "a") != _files(tmp_path / "c")


def test_layout_split_by_user_and_lengths(tmp_path: Path) -> None:
    counts = write_synthetic_lamp(tmp_path, "lamp-3", num_users=20, seed=0, items_per_user=7, words_per_item=80)
    assert counts == {"train": 14, "dev": 3, "test": 3}
    users: dict[str, set[str]] = {}
    for split in ("train", "dev", "test"):
        examples = read_lamp(tmp_path / f"{split}_questions.json", tmp_path / f"{split}_outputs.json", task="LaMP_3")
        users[split] = {e.user_id for e in examples}
        assert json.loads((tmp_path / f"{split}_outputs.json").read_text())["task"] == "LaMP_3"
        for example in examples:
            assert len(example.profile) == 7 and example.output in {"1", "2", "3", "4", "5"}
            dates = [item["date"] for item in example.profile]
            assert dates == sorted(dates) and len(set(dates)) == 7
            assert all(len(item["text"].split()) >= 80 for item in example.profile)
    assert sum(len(u) for u in users.values()) == 20 and len(set().union(*users.values())) == 20


def test_unsupported_task_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown synthetic task 'LaMP_4': did you mean 'LaMP_\d'\? \(known: LaMP_2, LaMP_3, LaMP_7\)"):
        write_synthetic_lamp(tmp_path, "LaMP_4", num_users=5, seed=0)
    assert list(tmp_path.iterdir()) == []


def _nearest_user_accuracy(folder: Path, task: str, heldout: int) -> float:
    """Fraction of users whose mean held-out TF-IDF vector is nearest (cosine) to their own context."""
    spec = get_task(task)
    examples = read_lamp(folder / "train_questions.json")
    contexts = [" ".join(spec.render(i) for i in e.profile[:-heldout]) for e in examples]
    heldouts = [" ".join(spec.render(i) for i in e.profile[-heldout:]) for e in examples]
    vectorizer = TfidfVectorizer().fit(contexts)
    similarity = (vectorizer.transform(heldouts) @ vectorizer.transform(contexts).T).toarray()
    return float(np.mean(similarity.argmax(axis=1) == np.arange(len(examples))))


@pytest.mark.parametrize("task", TASKS)
def test_users_are_recoverable_from_their_items(tmp_path: Path, task: str) -> None:
    write_synthetic_lamp(tmp_path, task, num_users=60, seed=1, items_per_user=20)
    accuracy = _nearest_user_accuracy(tmp_path, task, heldout=4)
    # 42 train users: chance is 1/42 ≈ 0.024; measured 0.52 (LaMP_2), 1.0 (LaMP_3), 0.95 (LaMP_7)
    assert accuracy >= {"LaMP_2": 0.4, "LaMP_3": 0.9, "LaMP_7": 0.85}[task], accuracy


def test_gold_follows_the_users_preferences(tmp_path: Path) -> None:
    write_synthetic_lamp(tmp_path, "LaMP_3", num_users=100, seed=2, items_per_user=20)
    examples = read_lamp(tmp_path / "train_questions.json", tmp_path / "train_outputs.json")
    gold = np.array([int(e.output) for e in examples])
    user_mean = np.array([np.mean([int(i["score"]) for i in e.profile]) for e in examples])
    global_mae = np.abs(gold - gold.mean()).mean()
    personal_mae = np.abs(gold - user_mean).mean()
    assert personal_mae < 0.75 * global_mae, (personal_mae, global_mae)

    write_synthetic_lamp(tmp_path / "tags", "LaMP_2", num_users=100, seed=2, items_per_user=20)
    examples = read_lamp(tmp_path / "tags" / "train_questions.json", tmp_path / "tags" / "train_outputs.json")
    hits = [e.output in {t for t, _ in Counter(i["tag"] for i in e.profile).most_common(3)} for e in examples]
    assert np.mean(hits) >= 0.7  # chance with 3 of 15 tags: 0.2


def test_cli_synth(tmp_path: Path) -> None:
    assert main(["synth", "--task", "LaMP_7", "--users", "5", "--seed", "0", "--items-per-user", "3",
                 "--out", str(tmp_path / "cli")]) == 0
    write_synthetic_lamp(tmp_path / "fn", "LaMP_7", num_users=5, seed=0, items_per_user=3)
    assert _files(tmp_path / "cli") == _files(tmp_path / "fn")
