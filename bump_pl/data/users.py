"""Group LaMP examples into users: merged, de-duplicated, chronologically ordered histories."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from bump_pl.data.lamp import LampExample

_DATE_FORMATS = ("%a %b %d %H:%M:%S %z %Y", "%Y/%m/%d", "%m/%d/%Y", "%d %B %Y", "%B %d, %Y")


@dataclass
class UserHistory:
    """One user: profile items oldest first, and the LaMP questions asked about them."""

    user_id: str
    items: list[dict[str, Any]] = field(default_factory=list)
    questions: list[LampExample] = field(default_factory=list)


def parse_date(value: Any) -> float | None:
    """A LaMP ``date`` as a POSIX timestamp, or ``None`` when it cannot be read.

    Accepts numbers and numeric strings (epoch seconds, or a bare year such as ``"2012"``), ISO dates
    (``2014-03-05``, ``2014-03-05 10:00:00``) and Twitter-style dates.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        is_year = text.isdigit() and len(text) == 4
        return datetime(int(text), 1, 1, tzinfo=timezone.utc).timestamp() if is_year else number
    parsed = None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def chronological(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items sorted oldest first (stable) when every item has a readable ``date``; else file order."""
    stamps = [parse_date(item.get("date")) for item in items]
    if any(stamp is None for stamp in stamps):
        return list(items)
    order = sorted(range(len(items)), key=lambda i: stamps[i])
    return [items[i] for i in order]


def _item_key(item: dict[str, Any]) -> str:
    """Identity of a profile item for de-duplication: its id, else its whole content."""
    if "id" in item and item["id"] is not None:
        return f"id:{item['id']}"
    return "content:" + json.dumps(item, sort_keys=True, ensure_ascii=False)


def group_users(examples: list[LampExample]) -> list[UserHistory]:
    """Merge examples by ``user_id`` (first-appearance order), de-duplicating items by item id.

    LaMP's time-based files and MovieLens may list one user in several questions, each carrying
    (overlapping) profiles; a user must appear once, with the union of their items.
    """
    users: dict[str, UserHistory] = {}
    seen: dict[str, set[str]] = {}
    for example in examples:
        user = users.setdefault(example.user_id, UserHistory(example.user_id))
        keys = seen.setdefault(example.user_id, set())
        user.questions.append(example)
        for item in example.profile:
            key = _item_key(item)
            if key not in keys:
                keys.add(key)
                user.items.append(item)
    for user in users.values():
        user.items = chronological(user.items)
    return list(users.values())
