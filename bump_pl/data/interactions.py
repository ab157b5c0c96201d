"""Users from any table ``datasets.load_dataset`` reads: a Hub id, or JSON/JSON-lines/CSV/Parquet files.

LaMP ships one question per user with the history inside it; most interaction logs are instead one
row per (user, item). :class:`InteractionsSource` says where the rows are and which column holds
what; :func:`read_interactions` groups the rows of one split into :class:`UserHistory` objects
(items oldest first) and runs the LaMP reader's item checks on them, so bad values stop the run at
setup with the same one-line errors, naming the source, the user and the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bump_pl.data.errors import LampFormatError
from bump_pl.data.items import check_profile_items
from bump_pl.data.lamp import LampExample
from bump_pl.data.tasks import TaskSpec
from bump_pl.data.users import UserHistory, chronological, parse_date

#: Our split names (as in LaMP's file names) and the dataset split each maps to by default.
DEFAULT_SPLITS: dict[str, str] = {"train": "train"}


@dataclass
class InteractionsSource:
    """Where the interaction rows are and which column holds what (``--data.interactions.*``).

    Attributes:
        path: ``datasets.load_dataset``'s first argument: a Hub id, a local dataset folder, or a
            builder name (``json``, ``csv``, ``parquet``) used with ``data_files``.
        data_files: files per dataset split, e.g. ``{"train": "train.jsonl", "dev": "dev.jsonl"}``.
        name: the dataset configuration (Hub datasets with several).
        splits: our split (``train``, ``dev``, ``test``) -> the dataset's split; a missing ``dev``
            or ``test`` is carved from train users, as with LaMP files.
        user_id: the column with the user id.
        item_fields: profile-item field -> column, e.g. ``{"text": "review", "score": "rating"}``;
            the fields are what the task renders (LaMP-3: ``text``, ``score``; other tasks: all).
        time: the column with the interaction's date or timestamp (items are ordered by it);
            None keeps the table's row order.
        item_id: the column with an item id (duplicates of a user are dropped); None numbers the rows.
    """

    path: str
    data_files: dict[str, str | list[str]] | None = None
    name: str | None = None
    splits: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SPLITS))
    user_id: str = "user_id"
    item_fields: dict[str, str] = field(default_factory=lambda: {"text": "text"})
    time: str | None = None
    item_id: str | None = None

    def __post_init__(self) -> None:
        unknown = set(self.splits) - {"train", "dev", "test"}
        if unknown or "train" not in self.splits:
            raise ValueError(f"interactions.splits needs 'train' and only train/dev/test keys, got {sorted(self.splits)}")
        if not self.item_fields:
            raise ValueError("interactions.item_fields must name at least one column (e.g. {text: review})")

    def place(self, split: str, index: int) -> str:
        """Where the 0-based data row ``index`` of ``split`` is, as the user's editor shows it: ``line N``
        of a single JSON-lines or CSV/TSV file (after the header), else ``row N`` counted from 1."""
        files = (self.data_files or {}).get(self.splits[split])
        single = files[0] if isinstance(files, list) and len(files) == 1 else files
        if isinstance(single, str) and single.endswith((".jsonl", ".ndjson")):
            return f"line {index + 1}"
        if isinstance(single, str) and single.endswith((".csv", ".tsv")):
            return f"line {index + 2}"
        return f"row {index + 1}"

    def label(self, split: str) -> str:
        """How messages name the source of ``split``: its file(s) when ``data_files`` names them,
        else ``"<path>[<dataset split>]"``."""
        files = (self.data_files or {}).get(self.splits[split])
        if files:
            return ", ".join(files) if isinstance(files, list) else str(files)
        return f"{self.path}[{self.splits[split]}]"


def load_rows(source: InteractionsSource, split: str) -> Iterable[dict[str, Any]]:
    """The rows of ``split`` (one of ``source.splits``) as dicts, via ``datasets.load_dataset``."""
    import datasets  # lazy: only this reader needs it

    try:
        table = datasets.load_dataset(
            source.path, source.name, data_files=source.data_files, split=source.splits[split]
        )
    except Exception as error:  # noqa: BLE001 - datasets raises many types; one line names the source
        raise LampFormatError(source.label(split), f"cannot load: {' '.join(str(error).split())[:300]}") from None
    columns = [source.user_id, *source.item_fields.values(), *(c for c in (source.time, source.item_id) if c)]
    missing = [column for column in columns if column not in table.column_names]
    if missing:
        raise LampFormatError(
            source.label(split), f"no column {', '.join(map(repr, missing))} (columns: {', '.join(table.column_names)})"
        )
    return table.select_columns(list(dict.fromkeys(columns)))


def read_interactions(source: InteractionsSource, split: str, task: TaskSpec) -> list[UserHistory]:
    """The users of ``split``, items oldest first (by ``time`` when given), checked as LaMP items are.

    Raises:
        LampFormatError: the split cannot be loaded, a column is missing, a user id is missing, a
            ``time`` value cannot be read as a time (never a silent fall back to row order), or
            an item's value is bad for ``task`` (``"<source>: question '<user>', profile item ..."``).
    """
    label = source.label(split)
    profiles: dict[str, list[dict[str, Any]]] = {}
    seen: dict[str, set[str]] = {}
    for number, row in enumerate(load_rows(source, split)):
        user = row[source.user_id]
        if user is None or isinstance(user, bool) or str(user).strip() == "":
            raise LampFormatError(label, f"{source.place(split, number)}: column {source.user_id!r} has no user id ({user!r})")
        item = {name: row[column] for name, column in source.item_fields.items()}
        item["id"] = str(row[source.item_id]) if source.item_id else str(number)
        if source.time:
            when = row[source.time]  # datasets parses date columns; items stay JSON-serialisable
            if not isinstance(when, (date, datetime)) and parse_date(when) is None:
                raise LampFormatError(
                    label,
                    f"{source.place(split, number)}: user {str(user)!r}: column {source.time!r} is {when!r}, not a time (an ISO date,"
                    " epoch seconds or a year); fix the value, or unset --data.interactions.time to keep row order",
                )
            item["date"] = when.isoformat() if isinstance(when, (date, datetime)) else when
        user_seen = seen.setdefault(str(user), set())
        if item["id"] not in user_seen:
            user_seen.add(item["id"])
            profiles.setdefault(str(user), []).append(item)
    if not profiles:
        raise LampFormatError(label, "contains no rows")
    # One LaMP-like question per user, so the reader's item checks (and their messages) apply as they are.
    examples = [LampExample(id=user, user_id=user, input="", output=None, profile=items) for user, items in profiles.items()]
    check_profile_items(examples, task, label)
    return [UserHistory(example.user_id, items=chronological(example.profile)) for example in examples]
