"""Users from JSON-lines interactions through ``datasets.load_dataset``: grouping, order, checks, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bump_pl.data.errors import LampFormatError
from bump_pl.data.interactions import InteractionsSource, read_interactions
from bump_pl.data.tasks import get_task

ROWS = [
    {"uid": "ann", "review": "Great kettle.", "stars": 5, "when": "2021-03-02", "asin": "k1"},
    {"uid": "bob", "review": "Too loud.", "stars": 2, "when": "2020-01-01", "asin": "f1"},
    {"uid": "ann", "review": "Cheap lid.", "stars": 2, "when": "2020-07-09", "asin": "k2"},
    {"uid": "ann", "review": "Great kettle.", "stars": 5, "when": "2021-03-02", "asin": "k1"},  # duplicate
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def source_for(path: Path, **overrides) -> InteractionsSource:
    settings = dict(
        path="json",
        data_files={"train": str(path)},
        user_id="uid",
        item_fields={"text": "review", "score": "stars"},
        time="when",
        item_id="asin",
    )
    return InteractionsSource(**{**settings, **overrides})


def test_rows_become_users_oldest_first_without_duplicates(tmp_path: Path) -> None:
    users = read_interactions(source_for(write_jsonl(tmp_path / "t.jsonl", ROWS)), "train", get_task("LaMP_3"))
    assert [user.user_id for user in users] == ["ann", "bob"]
    ann = users[0]
    assert [item["id"] for item in ann.items] == ["k2", "k1"]  # by date, duplicate dropped
    assert ann.items[0] == {"text": "Cheap lid.", "score": 2, "id": "k2", "date": "2020-07-09T00:00:00"}
    assert get_task("LaMP_3").render(ann.items[1]) == "text: Great kettle.; score: 5"
    assert ann.questions == []


def test_without_time_or_item_id_the_row_order_is_kept(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", ROWS[:3])
    users = read_interactions(source_for(path, time=None, item_id=None), "train", get_task("LaMP_3"))
    assert [item["text"] for item in users[0].items] == ["Great kettle.", "Cheap lid."]


def test_a_missing_column_names_the_source_and_the_columns(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", ROWS)
    with pytest.raises(LampFormatError, match=rf"^{path}: no column 'rating' \(columns: uid, review"):
        read_interactions(source_for(path, item_fields={"text": "review", "score": "rating"}), "train", get_task("LaMP_3"))


def test_bad_values_get_the_lamp_readers_one_line_error(tmp_path: Path) -> None:
    rows = [*ROWS[:3], {"uid": "cat", "review": "Fine.", "stars": "five", "when": "2020-01-01", "asin": "x"}]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    with pytest.raises(LampFormatError, match=r"question 'cat', profile item 'x': field 'score' is 'five', expected a number"):
        read_interactions(source_for(path), "train", get_task("LaMP_3"))


def test_a_missing_user_id_is_an_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [*ROWS[:2], {**ROWS[2], "uid": None}])
    with pytest.raises(LampFormatError, match=r": line 3: column 'uid' has no user id"):  # the file's 3rd line
        read_interactions(source_for(path), "train", get_task("LaMP_3"))


def test_an_unreadable_source_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(LampFormatError, match=rf"^{tmp_path / 'absent.jsonl'}: cannot load: ") as info:
        read_interactions(source_for(tmp_path / "absent.jsonl"), "train", get_task("LaMP_3"))
    assert "\n" not in str(info.value)


def test_a_time_that_cannot_be_read_names_the_file_row_and_user(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [*ROWS[:2], {**ROWS[2], "when": "last spring"}])
    message = (
        rf"^{path}: line 3: user 'ann': column 'when' is 'last spring', not a time \(an ISO date, epoch seconds or a year\);"
        r" fix the value, or unset --data.interactions.time to keep row order$"
    )
    with pytest.raises(LampFormatError, match=message):
        read_interactions(source_for(path), "train", get_task("LaMP_3"))
    assert read_interactions(source_for(path, time=None), "train", get_task("LaMP_3"))  # no time: row order, as asked


def test_rows_are_placed_as_an_editor_shows_them() -> None:
    place = lambda files: InteractionsSource(path="json", data_files={"train": files}).place("train", 4)  # noqa: E731
    assert (place("a.jsonl"), place(["a.jsonl"]), place("a.csv"), place(["a.jsonl", "b.jsonl"]), place("a.parquet")) == (
        "line 5", "line 5", "line 6", "row 5", "row 5")
    assert InteractionsSource(path="org/reviews").place("train", 0) == "row 1"


def test_a_source_without_files_is_named_by_its_dataset_split() -> None:
    assert InteractionsSource(path="org/reviews", splits={"train": "train", "dev": "validation"}).label("dev") == "org/reviews[validation]"


def test_splits_must_include_train() -> None:
    with pytest.raises(ValueError, match="needs 'train'"):
        InteractionsSource(path="json", splits={"dev": "validation"})


def test_datamodule_trains_on_interactions_with_the_generic_task(tmp_path: Path) -> None:
    from bump_pl.data.datamodule import BumpDataModule
    from bump_pl.models.tiny import tiny_tokenizer

    rows = [
        {"uid": f"u{user}", "review": f"user {user} item {item}", "stars": item % 5 + 1, "asin": f"{user}-{item}"}
        for user in range(12)
        for item in range(6)
    ]
    source = source_for(write_jsonl(tmp_path / "t.jsonl", rows), time=None)
    data = BumpDataModule(interactions=source, tokenizer=tiny_tokenizer(), users_per_batch=2, heldout_per_user=2,
                          min_context_items=2, val_fraction=0.2)
    data.setup("fit")
    assert data.task.name == "interactions" and data.task.fields is None
    assert sum(len(data.users[split]) for split in ("train", "val", "test")) == 12
    batch = next(iter(data.train_dataloader()))
    heldout = {item for items in batch.heldout for item in items}
    assert all(line.startswith("text: user ") and "; score: " in line for line in heldout)
    assert not heldout & {line for lines in batch.context for line in lines}  # held-out never in the prompt


def test_datamodule_needs_exactly_one_source(tmp_path: Path) -> None:
    from bump_pl.data.datamodule import BumpDataModule

    with pytest.raises(ValueError, match="exactly one of data_dir"):
        BumpDataModule(data_dir=tmp_path, interactions=source_for(tmp_path / "t.jsonl"), tokenizer="x")
