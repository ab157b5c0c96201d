"""Checks of every profile item's values at read time, so bad text stops the run at setup, not at step N.

For a registered task each text field must be a string (a number is used as its text, counted in a
warning) and each numeric field (LaMP-3's ``score``) a finite number or numeric string. For every
task a string may not hold a lone UTF-16 surrogate (``"\\ud83d"``, a cut-off emoji: JSON allows it,
no tokenizer can encode it) and a number may not be NaN/inf. Items whose text fields are all blank
are dropped (counted in a warning); a file where every item is blank is an error.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from bump_pl.data.errors import LampFormatError
from bump_pl.data.notices import data_logger
from bump_pl.data.tasks import META_FIELDS, TaskSpec

log = data_logger(__name__)

_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(text: str) -> str | None:
    """A description of the first lone surrogate in ``text``, or None."""
    match = _SURROGATE.search(text)
    return None if match is None else f"a lone surrogate {match.group()!r} at character {match.start()} (a cut-off emoji?)"


def value_problem(value: Any, numeric: bool) -> str | None:
    """Why ``value`` cannot be a text (``numeric=False``) or a number field's value, else None.

    A text may be a string or a finite number; a numeric field a finite number or a string that
    parses as one. ``None`` is only a problem for a numeric field (an absent text is just absent).
    """
    if isinstance(value, str):
        surrogate = _lone_surrogate(value)
        if surrogate:
            return f"has {surrogate}"
        if numeric:
            try:
                number = float(value)
            except ValueError:
                return f"is {value!r}, expected a number"
            return None if math.isfinite(number) else f"is {value!r}, expected a finite number"
        return None
    if value is None:
        return "is null, expected a number" if numeric else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        expected = "a number" if numeric else "a string"
        return f"is a {type(value).__name__} ({str(value)[:40]}), expected {expected}"
    return None if math.isfinite(value) else f"is {value}, expected a finite number"


def _fields(spec: TaskSpec, item: dict[str, Any]) -> list[str]:
    return list(spec.fields) if spec.fields is not None else [key for key in item if key not in META_FIELDS]


def _is_blank(spec: TaskSpec, item: dict[str, Any]) -> bool:
    """Whether every rendered text (non-numeric) field of ``item`` is absent or whitespace."""
    return not [key for key, _ in spec.text_fields(item) if key not in spec.numeric_fields]


def check_profile_items(questions: list[Any], spec: TaskSpec, path: Path) -> None:
    """Validate (and drop blank) profile items of parsed questions in place; one error names the field.

    Args:
        questions: parsed questions with ``id``, ``input`` and a list ``profile`` of dict items.
        spec: the task whose fields make an item's text.
        path: the file, for messages.

    Raises:
        LampFormatError: ``"{path}: question 'Q', profile item 'I': field 'F' is ..."`` for the first
            bad value, or when every item of the file is blank.

    Blank items are dropped and items whose ``date`` cannot be read (their user's items then keep
    file order) are counted, each with one warning naming the file (README, Troubleshooting).
    """
    from bump_pl.data.users import parse_date  # lazy: users imports the reader, which imports this

    numbers_as_text = blank = total = undated = 0
    first_undated = ""
    for question in questions:
        surrogate = _lone_surrogate(question.input)
        if surrogate:
            raise LampFormatError(path, f"question {question.id!r}: field 'input' has {surrogate}")
        kept = []
        for item in question.profile:
            total += 1
            where = f"question {question.id!r}, profile item {item.get('id', '?')!r}"
            if spec.fields is not None and not any(key in item for key in spec.fields):
                raise LampFormatError(path, f"{where}: has no text field for {spec.name} ({', '.join(spec.fields)})")
            for key in _fields(spec, item):
                value, numeric = item.get(key), key in spec.numeric_fields
                if spec.fields is None and (value is None or isinstance(value, (bool, list, dict))):
                    continue  # generic data: only scalar fields are rendered
                problem = value_problem(value, numeric)
                if problem:
                    raise LampFormatError(path, f"{where}: field {key!r} {problem}")
                if not numeric and spec.fields is not None and isinstance(value, (int, float)):
                    numbers_as_text += 1
            if item.get("date") is not None and parse_date(item["date"]) is None:
                undated += 1
                first_undated = first_undated or f"{where}: date {item['date']!r}"
            if _is_blank(spec, item):
                blank += 1
            else:
                kept.append(item)
        question.profile = kept
    if total and blank == total:
        raise LampFormatError(path, f"every profile item's text is empty ({total} items)")
    if numbers_as_text:
        log.warning("%s: %d profile text fields are numbers, not strings; used as their text", path, numbers_as_text)
    if blank:
        log.warning("%s: dropped %d of %d profile items whose text is empty", path, blank, total)
    if undated:
        log.warning(
            "%s: %d of %d profile items have a date that cannot be read (first: %s); their users' items keep file order",
            path, undated, total, first_undated,
        )
