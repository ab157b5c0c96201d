"""Several questions per user: the user's last interactions asked as questions, the history cut before them.

LaMP asks one question per user (the interaction after the whole history), so a downstream figure
rests on as many questions as there are users. ``bump-downstream --questions_per_user N`` asks about
each user's last ``N`` interactions: the LaMP question itself, then the ``N - 1`` most recent history
items, each written as the question LaMP would ask about it. Everything a variant may show the
downstream model (the profile's source, the recent and retrieved histories) is cut to the items
strictly before the earliest of those ``N``: items dated the same as the earliest asked item go too.

A question can be written from an item where the item holds both what LaMP asks about and its answer
(:data:`ITEM_QUESTIONS`): a rating (LaMP-3, MovieLens), a tag (LaMP-2), a title (LaMP-4, LaMP-5).
The instruction is the user's own LaMP question's, up to and including the field marker
(``"review: "``), so the written questions read exactly as the data set's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from bump_pl.data.lamp import LampExample
from bump_pl.data.tasks import TaskSpec
from bump_pl.data.users import UserHistory, parse_date


@dataclass(frozen=True)
class ItemQuestion:
    """How one task's question is written from a history item.

    Attributes:
        marker: where the instruction of the task's question input ends (the item's part follows it).
        asked: the item's part of the question input (what is shown of the item).
        gold: the item's answer (what is asked about it).
    """

    marker: str
    asked: Callable[[dict[str, Any]], str]
    gold: Callable[[dict[str, Any]], str]


def _rating(value: Any) -> str:
    """A rating as LaMP-3's gold: rounded half up to a whole number (``"3.5"`` -> ``"4"``)."""
    return str(int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP)))


#: The tasks whose questions can be written from a history item, by canonical name.
ITEM_QUESTIONS: dict[str, ItemQuestion] = {
    "LaMP_2": ItemQuestion("description: ", lambda item: str(item["description"]), lambda item: str(item["tag"])),
    "LaMP_3": ItemQuestion("review: ", lambda item: str(item["text"]), lambda item: _rating(item["score"])),
    "LaMP_4": ItemQuestion("article: ", lambda item: str(item["text"]), lambda item: str(item["title"])),
    "LaMP_5": ItemQuestion("paper: ", lambda item: str(item["abstract"]), lambda item: str(item["title"])),
    "MovieLens_rating": ItemQuestion(
        "movie: ", lambda item: f"{item['title']} (genres: {item['genres']})", lambda item: _rating(item["score"])
    ),
}


def check_askable(task: TaskSpec, questions_per_user: int) -> None:
    """Refuse, in one line naming the task, more than one question per user where none can be written from an item."""
    if questions_per_user < 1:
        raise ValueError(f"questions_per_user must be >= 1, got {questions_per_user}")
    if questions_per_user > 1 and task.name not in ITEM_QUESTIONS:
        raise ValueError(
            f"{task.name}: a question cannot be written from a history item, so only its LaMP question is asked"
            f" (questions_per_user 1); tasks that allow more: {', '.join(ITEM_QUESTIONS)}"
        )


def _history_before(items: list[dict[str, Any]], first_asked: int) -> list[dict[str, Any]]:
    """``items[:first_asked]`` less the items dated as ``items[first_asked]`` (strictly before it in time)."""
    stamp = parse_date(items[first_asked].get("date"))
    kept = items[:first_asked]
    while stamp is not None and kept and parse_date(kept[-1].get("date")) == stamp:
        kept.pop()
    return kept


def ask_last(user: UserHistory, task: TaskSpec, questions_per_user: int) -> UserHistory:
    """``user`` asked about their last ``questions_per_user`` interactions, oldest first, with the history before them.

    ``questions_per_user == 1`` returns ``user`` itself (LaMP's protocol: every question of the data,
    the whole history). Otherwise the user must have exactly one LaMP question (the last interaction)
    and keep at least one history item before the earliest asked one.
    """
    check_askable(task, questions_per_user)
    if questions_per_user == 1:
        return user
    if len(user.questions) != 1:
        raise ValueError(f"user {user.user_id!r} has {len(user.questions)} LaMP questions; questions_per_user > 1 needs exactly one")
    writer, last = ITEM_QUESTIONS[task.name], user.questions[0]
    end = last.input.find(writer.marker)
    if end < 0:
        raise ValueError(f"{task.name}: question {last.id!r} has no {writer.marker!r} to write further questions after")
    instruction = last.input[: end + len(writer.marker)]
    first_asked = len(user.items) - (questions_per_user - 1)
    history = _history_before(user.items, first_asked) if first_asked > 0 else []
    if not history:
        raise ValueError(
            f"user {user.user_id!r} has {len(user.items)} history items: too few to ask {questions_per_user} questions"
            " and keep a history before them"
        )
    asked = [
        LampExample(
            f"{last.id}@{item.get('id', position)}", user.user_id, instruction + writer.asked(item), writer.gold(item), history
        )
        for position, item in enumerate(user.items[first_asked:], start=first_asked)
    ]
    return UserHistory(user.user_id, history, [*asked, replace(last, profile=history)])


def write_histories(users: list[UserHistory], path: Path) -> Path:
    """A LaMP questions file of ``users`` with the histories they keep (one record per user, their last
    question's id and input): what the profile generator reads, so a profile sees no asked item."""
    rows = [
        {"id": user.questions[-1].id, "user_id": user.user_id, "input": user.questions[-1].input, "profile": user.items}
        for user in users
    ]
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path
