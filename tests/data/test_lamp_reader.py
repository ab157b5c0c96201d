"""LaMP reader: every task's official field set, time-based user ids, and one clear error per bad input."""

import json
from pathlib import Path

import pytest

from bump_pl.data import LampFormatError, get_task, group_users, read_lamp, read_lamp_task
from bump_pl.data.lamp import resolve_task
from bump_pl.data.users import parse_date

FIXTURES = Path(__file__).parent / "fixtures"

TASK_FIELDS = {
    "LaMP_1": ("title", "abstract"), "LaMP_2": ("description", "tag"), "LaMP_3": ("text", "score"),
    "LaMP_4": ("title", "text"), "LaMP_5": ("title", "abstract"), "LaMP_6": ("text", "title"), "LaMP_7": ("text",),
}
GOLDS = {"LaMP_1": "[1]", "LaMP_2": "comedy", "LaMP_3": "4", "LaMP_4": "Council approves new bridge",
         "LaMP_5": "Efficient retrieval with learned sparse codes", "LaMP_6": "Meeting moved to Friday",
         "LaMP_7": "cant wait 4 the weekend!!"}


@pytest.mark.parametrize("task", sorted(TASK_FIELDS))
def test_reads_every_task_official_layout(task: str) -> None:
    folder = FIXTURES / task.lower()
    examples = read_lamp(folder / "dev_questions.json", folder / "dev_outputs.json", task=task)
    number = int(task[-1])
    assert [e.id for e in examples] == [f"{9 + number}0", f"{9 + number}01"]
    assert [e.user_id for e in examples] == [e.id for e in examples]  # user setting: user_id = id
    assert [e.output for e in examples] == [GOLDS[task]] * 2
    assert [len(e.profile) for e in examples] == [2, 1]
    assert read_lamp_task(folder / "dev_outputs.json") == task
    spec = get_task(task)
    for item in examples[0].profile:
        line = spec.render(item)
        assert line == "; ".join(f"{f}: {' '.join(item[f].split())}" for f in TASK_FIELDS[task])
        assert "\n" not in line


def test_without_outputs_the_output_is_none() -> None:
    examples = read_lamp(FIXTURES / "lamp_2" / "dev_questions.json")
    assert [e.output for e in examples] == [None, None]


def test_time_based_user_ids_merge_profiles_deduped_and_dated() -> None:
    folder = FIXTURES / "lamp_3_time"
    examples = read_lamp(folder / "train_questions.json", folder / "train_outputs.json")
    assert [e.user_id for e in examples] == ["u7", "u7", "u9"]
    users = group_users(examples)
    assert [u.user_id for u in users] == ["u7", "u9"]
    assert [item["id"] for item in users[0].items] == ["u7-1", "u7-2", "u7-3"]  # deduped, oldest first
    assert [q.id for q in users[0].questions] == ["310", "311"]


def test_parse_date_formats() -> None:
    assert parse_date("2020-01-02") < parse_date("2020-01-03")
    assert parse_date("964982989") == 964982989.0
    assert parse_date("2012") == parse_date("2012-01-01")
    assert parse_date("Tue May 26 21:37:22 +0000 2009") == parse_date("2009-05-26T21:37:22+00:00")
    assert parse_date("not a date") is None


GOOD_QUESTION = {"id": "1", "input": "q", "profile": [{"id": "1a", "text": "hi", "score": "3"}]}


def _write(tmp_path: Path, name: str, content: bytes | str | object) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    return path


BAD_QUESTIONS = {
    "malformed": ('[{"id": "1", "input": "q", "profile": []', "malformed JSON at line 1"),
    "empty": ("", "file is empty"),
    "non_utf8": (b'[{"id": "1", "input": "caf\xe9", "profile": []}]', "not valid UTF-8"),
    "not_list": ({"id": "1"}, "expected a list of questions"),
    "no_profile": ([{"id": "1", "input": "q"}], "has no 'profile'"),
    "profile_not_list": ([{"id": "1", "input": "q", "profile": "abc"}], "'profile' is a str, expected a list"),
    "item_not_object": ([{"id": "1", "input": "q", "profile": ["abc"]}], "profile item #0 is not an object"),
    "duplicate_ids": ([GOOD_QUESTION, GOOD_QUESTION], "duplicate question id '1'"),
    "no_text_field": ([{"id": "1", "input": "q", "profile": [{"id": "1a", "title": "x"}]}], "has no text field for LaMP_3"),
}


@pytest.mark.parametrize("case", sorted(BAD_QUESTIONS))
def test_bad_questions_file_gives_one_clear_error(tmp_path: Path, case: str) -> None:
    content, problem = BAD_QUESTIONS[case]
    path = _write(tmp_path, "dev_questions.json", content)
    with pytest.raises(LampFormatError) as info:
        read_lamp(path, task="LaMP_3")
    message = str(info.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message
    assert isinstance(info.value, ValueError)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LampFormatError, match=r"nope_questions\.json: file does not exist"):
        read_lamp(tmp_path / "nope_questions.json")


@pytest.mark.parametrize(
    ("golds", "problem"),
    [
        ([{"id": "1", "output": "3"}, {"id": "2", "output": "4"}], "gold without question '2'"),
        ([], "no gold for '1'"),
        ([{"id": "1", "output": "3"}, {"id": "1", "output": "4"}], "duplicate gold id '1'"),
    ],
)
def test_outputs_ids_must_match(tmp_path: Path, golds: list, problem: str) -> None:
    questions = _write(tmp_path, "dev_questions.json", [GOOD_QUESTION])
    outputs = _write(tmp_path, "dev_outputs.json", {"task": "LaMP_3", "golds": golds})
    with pytest.raises(LampFormatError) as info:
        read_lamp(questions, outputs)
    assert str(info.value).startswith(f"{outputs}: ") and problem in str(info.value)


def test_outputs_file_without_golds(tmp_path: Path) -> None:
    outputs = _write(tmp_path, "dev_outputs.json", [{"id": "1", "output": "3"}])
    with pytest.raises(LampFormatError, match="expected an object with a 'golds' list"):
        read_lamp_task(outputs)


def _one_item(**fields: object) -> list[dict]:
    return [{"id": "1", "input": "q", "profile": [{"id": "1a", "text": "fine", "score": "3"}, {"id": "1b", **fields}]}]


BAD_VALUES = {
    "lone_surrogate": (_one_item(text="cut emoji \ud83d", score="4"), "field 'text' has a lone surrogate '\\ud83d' at character 10"),
    "score_word": (_one_item(text="ok", score="five"), "field 'score' is 'five', expected a number"),
    "score_nan": (_one_item(text="ok", score=float("nan")), "field 'score' is nan, expected a finite number"),
    "score_null": (_one_item(text="ok", score=None), "field 'score' is null, expected a number"),
    "text_list": (_one_item(text=["a", "b"], score="4"), "field 'text' is a list (['a', 'b']), expected a string"),
    "text_nan": (_one_item(text=float("nan"), score="4"), "field 'text' is nan, expected a finite number"),
    "input_surrogate": ([{"id": "1", "input": "q \udc00", "profile": []}], "question '1': field 'input' has a lone surrogate"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_item_values_name_file_question_item_and_field(tmp_path: Path, case: str) -> None:
    content, problem = BAD_VALUES[case]
    path = tmp_path / "train_questions.json"
    path.write_text(json.dumps(content), encoding="utf-8")  # json escapes the surrogate as "\ud83d"
    with pytest.raises(LampFormatError) as info:
        read_lamp(path, task="LaMP_3")
    message = str(info.value)
    assert message.startswith(f"{path}: question '1'") and problem in message and "\n" not in message
    if case != "input_surrogate":
        assert "profile item '1b'" in message


def test_numbers_as_text_are_counted_and_blank_items_dropped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    profile = [{"id": "a", "text": 1234, "score": 5}, {"id": "b", "text": "  ", "score": "2"}, {"id": "c", "text": "ok", "score": "4.0"}]
    path = _write(tmp_path, "dev_questions.json", [{"id": "1", "input": "q", "profile": profile}])
    with caplog.at_level("WARNING"):
        (example,) = read_lamp(path, task="LaMP_3")
    assert [item["id"] for item in example.profile] == ["a", "c"]
    assert get_task("LaMP_3").render(example.profile[0]) == "text: 1234; score: 5"
    assert f"{path}: 1 profile text fields are numbers" in caplog.text
    assert f"{path}: dropped 1 of 3 profile items whose text is empty" in caplog.text


def test_unreadable_dates_are_counted_not_silent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    profile = [
        {"id": "a", "text": "x", "score": 5, "date": "2014-03-05"},
        {"id": "b", "text": "y", "score": 2, "date": "yesterday"},
        {"id": "c", "text": "z", "score": 4, "date": None},
    ]
    path = _write(tmp_path, "dev_questions.json", [{"id": "1", "input": "q", "profile": profile}])
    with caplog.at_level("WARNING"):
        read_lamp(path, task="LaMP_3")
    expected = (
        f"{path}: 1 of 3 profile items have a date that cannot be read (first: question '1', profile item 'b':"
        " date 'yesterday'); their users' items keep file order"
    )
    assert expected in caplog.text


def test_every_item_blank_is_an_error(tmp_path: Path) -> None:
    profile = [{"id": "a", "text": "", "score": "5"}, {"id": "b", "text": " ", "score": "2"}]
    path = _write(tmp_path, "dev_questions.json", [{"id": "1", "input": "q", "profile": profile}])
    with pytest.raises(LampFormatError, match=r"every profile item's text is empty \(2 items\)"):
        read_lamp(path, task="LaMP_3")


def test_generic_task_accepts_numbers_and_skips_lists(tmp_path: Path) -> None:
    profile = [{"id": "a", "movie": "Heat", "rating": 4.5, "genres": ["crime"]}]
    path = _write(tmp_path, "dev_questions.json", [{"id": "1", "input": "q", "profile": profile}])
    (example,) = read_lamp(path, task="MovieLens_rating")
    assert get_task("MovieLens_rating").render(example.profile[0]) == "movie: Heat; rating: 4.5"


def _outputs(tmp_path: Path, **tasks: str | None) -> list[Path]:
    paths = []
    for split, task in tasks.items():
        content = {"golds": []} if task is None else {"task": task, "golds": []}
        paths.append(_write(tmp_path, f"{split}_outputs.json", content))
    return paths


def test_resolve_task_names_the_odd_file_and_that_nothing_was_configured(tmp_path: Path) -> None:
    files = _outputs(tmp_path, train="LaMP_2", dev="LaMP_3", test="LaMP-3")
    with pytest.raises(LampFormatError) as info:
        resolve_task(None, files)
    message = str(info.value)
    assert message.startswith(f"{files[0]}: task 'LaMP_2' disagrees with the other outputs files")
    assert "dev_outputs.json says 'LaMP_3'" in message and "no --data.task was configured" in message


def test_resolve_task_configured_recorded_fallback_and_never_the_folder_name(tmp_path: Path) -> None:
    folder = tmp_path / "LaMP_7"
    folder.mkdir()
    files = _outputs(folder, train="LaMP_3", dev=None)
    assert resolve_task(None, files).name == "LaMP_3"
    assert resolve_task("lamp-3", files).name == "LaMP_3"
    with pytest.raises(LampFormatError, match=r"train_outputs\.json: task 'LaMP_3' disagrees with --data\.task 'LaMP_2'"):
        resolve_task("LaMP_2", files)
    missing = [folder / "test_outputs.json"]
    assert resolve_task(None, missing, fallback="LaMP_7").name == "LaMP_7"
    with pytest.raises(LampFormatError, match=r"no task: --data\.task is not set and no outputs file \(test_outputs\.json\)"):
        resolve_task(None, missing)
