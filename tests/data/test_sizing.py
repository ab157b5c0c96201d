"""Sizing errors say where a split came from and what to change, and following that advice works."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bump_pl.data import BumpDataModule, write_synthetic_lamp
from bump_pl.data.sizing import Carve, batch_error, carve_fraction
from bump_pl.models.tiny import tiny_tokenizer


@pytest.fixture
def six_train_users(tmp_path: Path) -> Path:
    """A LaMP_3 folder with train files only: 6 users (val and test are carved from them), as in issue 22."""
    folder = tmp_path / "LaMP_3"
    write_synthetic_lamp(folder, "LaMP_3", num_users=10, seed=0, items_per_user=10, words_per_item=6)
    for path in [*folder.glob("dev_*"), *folder.glob("test_*")]:
        path.unlink()
    return folder


def _loaders(folder: Path, **options: object) -> None:
    settings = dict(users_per_batch=3, heldout_per_user=3, min_context_items=2, max_prompt_tokens=None, seed=0)
    module = BumpDataModule(folder, tokenizer=tiny_tokenizer(), **{**settings, **options})
    module.setup("fit")
    module.train_dataloader(), module.val_dataloader(), module.test_dataloader()


def test_a_carved_split_says_so_and_its_advice_works(six_train_users: Path) -> None:
    assert len(json.loads((six_train_users / "train_questions.json").read_text())) == 6
    with pytest.raises(ValueError) as error:
        _loaders(six_train_users)
    message = str(error.value)
    assert message.startswith("val: 1 users over 1 rank(s) cannot fill one batch of users_per_batch=3; val and test carved from train")
    assert "has no dev_questions.json and test_questions.json" in message
    assert "--data.val_fraction 0.1 of 6 train users is 1 user(s) each" in message
    # 3 users each for val, test and train do not fit in 6: the batch shrinks to 2 and the carve grows to 2
    advice = re.search(r"; set --data\.users_per_batch (\d+) --data\.val_fraction ([\d.]+), or add", message)
    assert advice is not None and advice.groups() == ("2", "0.25"), message
    with pytest.raises(ValueError, match="val: 1 users"):  # lowering users_per_batch alone does not do
        _loaders(six_train_users, users_per_batch=2)
    _loaders(six_train_users, users_per_batch=int(advice.group(1)), val_fraction=float(advice.group(2)))


def test_the_smallest_fraction_that_fills_every_split() -> None:
    assert carve_fraction(30, 2, 3) == 0.09  # round(2.7) = 3 each for val/test, 24 left for train
    assert carve_fraction(6, 2, 3) is None  # 3 + 3 + 3 > 6
    assert carve_fraction(6, 2, 2) == 0.25  # round(1.5) = 2 each, 2 left


def test_a_split_with_its_own_file_is_told_to_lower_the_batch_or_add_users() -> None:
    assert batch_error("val", 5, 2, 3, None) == (
        "val: 5 users over 2 rank(s) cannot fill one batch of users_per_batch=3; lower --data.users_per_batch to 2"
        " or add users to val's file"
    )
    carve = Carve(train_users=40, carved=("test",), source="train_questions.json", val_fraction=0.05)
    # round(0.09 * 40) = round(3.6) = 4 test users, 36 left for train
    assert batch_error("test", 2, 1, 4, carve).endswith("; set --data.val_fraction 0.09, or add test_questions.json")
