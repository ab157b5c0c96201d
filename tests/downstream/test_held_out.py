"""Several questions per user: the last interactions asked, every context cut before the earliest of them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bump_pl.data import LampExample, UserHistory, get_task, read_lamp
from bump_pl.downstream.held_out import ITEM_QUESTIONS, ask_last, check_askable, write_histories
from bump_pl.downstream.inputs import read_split
from bump_pl.downstream.prompts import PROFILE_VARIANTS, VARIANTS, PromptBuilder
from bump_pl.downstream.run import Questions
from bump_pl.models.tiny import tiny_tokenizer

LAMP3 = get_task("LaMP_3")
INSTRUCTION = "What is the score of the following review on a scale of 1 to 5? review: "


def _user(number: int, items: int = 7, tie: bool = False) -> UserHistory:
    """A LaMP-3 user whose every review text is unique (no text is a substring of another); ``tie``: the item
    before the earliest of 3 asked ones is dated as that one."""
    history = [
        {"id": f"{number}-{k}", "text": f"review <{number}:{k}> of a kettle", "score": str(1 + (number + k) % 5), "date": 1000 + k}
        for k in range(items)
    ]
    if tie:
        history[-3]["date"] = history[-2]["date"]
    question = LampExample(f"q{number}", f"u{number}", INSTRUCTION + f"review <{number}:last> of a kettle", "3", history)
    return UserHistory(f"u{number}", history, [question])


def _contexts(questions: Questions, builder: PromptBuilder) -> list[tuple[str, str]]:
    """``(user, context)`` of every question under every variant (a profile variant shows the user's history)."""
    rows = []
    for user, question in questions.pairs:
        history = "\n".join(item["text"] for item in user.items)
        for variant in (*VARIANTS, *PROFILE_VARIANTS):
            rows.append((user.user_id, builder.context(variant, user, question, history) or ""))
    return rows


def test_no_asked_item_is_in_any_context_or_in_the_generators_history(tmp_path: Path) -> None:
    users = [_user(number, tie=number == 2) for number in range(4)]
    questions = Questions.of([ask_last(user, LAMP3, 3) for user in users], "dev", None)
    asked = {user.user_id: [item["text"] for item in user.items[-2:]] + [f"<{user.user_id[1:]}:last>"] for user in users}
    assert [q.id for _, q in questions.pairs[:3]] == ["q0@0-5", "q0@0-6", "q0"]  # the last 3 interactions, oldest first
    assert [q.input for _, q in questions.pairs[:2]] == [INSTRUCTION + text for text in asked["u0"][:2]]
    assert [q.output for _, q in questions.pairs[:3]] == ["1", "2", "3"]  # the items' own scores, then the LaMP gold
    builder = PromptBuilder(LAMP3, tiny_tokenizer(), "causal", 10_000, 100, 10_000)
    contexts = _contexts(questions, builder)
    assert len(contexts) == 4 * 3 * (len(VARIANTS) + len(PROFILE_VARIANTS))
    assert all(text not in context for user, context in contexts for text in asked[user])
    assert any("<0:4>" in context for user, context in contexts if user == "u0")  # the history before them is there
    assert not any("<2:4>" in context for user, context in contexts if user == "u2")  # dated as the earliest asked: dropped
    rows = json.loads(write_histories(questions.users, tmp_path / "dev_questions.json").read_text())
    assert [row["user_id"] for row in rows] == ["u0", "u1", "u2", "u3"]
    assert all(text not in json.dumps(row) for row in rows for text in asked[row["user_id"]][:2])
    assert [len(row["profile"]) for row in rows] == [5, 5, 4, 5]
    assert [example.profile for example in read_lamp(tmp_path / "dev_questions.json")] == [row["profile"] for row in rows]


def test_one_question_per_user_is_lamps_protocol_unchanged(lamp3_dir: Path) -> None:
    users = read_split(lamp3_dir, "dev", LAMP3)
    asked = [ask_last(user, LAMP3, 1) for user in users]
    assert all(after is before for after, before in zip(asked, users, strict=True))
    assert Questions.of(asked, "dev", None) == Questions.of(read_split(lamp3_dir, "dev", LAMP3), "dev", None)


@pytest.mark.parametrize("task", ["LaMP_1", "LaMP_6", "LaMP_7", "Amazon_reviews"])
def test_tasks_whose_questions_cannot_be_written_from_an_item_are_refused_in_one_line(task: str) -> None:
    check_askable(get_task(task), 1)
    with pytest.raises(ValueError, match=f"^{task}: a question cannot be written from a history item") as error:
        check_askable(get_task(task), 2)
    assert "\n" not in str(error.value)


def test_too_short_a_history_or_several_lamp_questions_are_refused() -> None:
    with pytest.raises(ValueError, match="user 'u1' has 3 history items: too few to ask 4 questions"):
        ask_last(_user(1, items=3), LAMP3, 4)
    user = _user(1)
    user.questions.append(replace(user.questions[0], id="q1b"))
    with pytest.raises(ValueError, match="user 'u1' has 2 LaMP questions; questions_per_user > 1 needs exactly one"):
        ask_last(user, LAMP3, 2)


def test_each_task_writes_the_question_lamp_asks_about_an_item() -> None:
    cases = {
        "LaMP_2": ({"description": "A ship sinks.", "tag": "romance"}, "A ship sinks.", "romance"),
        "LaMP_3": ({"text": "Great kettle.", "score": "3.5"}, "Great kettle.", "4"),
        "LaMP_4": ({"text": "Markets fell.", "title": "Stocks down"}, "Markets fell.", "Stocks down"),
        "LaMP_5": ({"abstract": "We study X.", "title": "On X"}, "We study X.", "On X"),
        "MovieLens_rating": ({"title": "Heat (1995)", "genres": "Crime", "score": 2.5}, "Heat (1995) (genres: Crime)", "3"),
    }
    assert set(cases) == set(ITEM_QUESTIONS)
    for task, (item, asked, gold) in cases.items():
        assert (ITEM_QUESTIONS[task].asked(item), ITEM_QUESTIONS[task].gold(item)) == (asked, gold)


def test_movielens_questions_read_as_the_data_sets_and_leave_the_history_before_them(movielens_dir: Path) -> None:
    task = get_task("MovieLens_rating")
    users = read_split(movielens_dir, "dev", task)
    questions = Questions.of([ask_last(user, task, 5) for user in users], "dev", None)
    assert len(questions.pairs) == 5 * len(users) == 415 and len(set(questions.user_ids)) == 83
    instruction = users[0].questions[0].input.split("movie: ")[0] + "movie: "
    assert all(question.input.startswith(instruction) for _, question in questions.pairs)
    by_user = {user.user_id: user for user in users}
    for user in questions.users:
        whole = by_user[user.user_id].items
        asked = whole[len(whole) - 4 :]
        assert user.items == whole[: len(user.items)] and len(user.items) <= len(whole) - 4
        assert all(int(item["date"]) < int(asked[0]["date"]) for item in user.items)  # strictly before in time
