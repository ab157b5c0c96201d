"""Reader for LaMP's official file layout, with one clear error per kind of bad input.

Layout: ``{split}_questions.json`` is a list of ``{id, input, profile: [{id, date?, ...}], user_id?}``;
``{split}_outputs.json`` is ``{task, golds: [{id, output}]}``. Time-based LaMP files and other data
(e.g. MovieLens in LaMP format) carry ``user_id``; LaMP's user-based files do not, and there every
question is its own user (``user_id = id``).

Files are parsed whole with :mod:`json` (LaMP's largest split is a few hundred MB, which fits in
memory); correctness of every check below matters more than streaming.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bump_pl.data.errors import LampFormatError
from bump_pl.data.items import check_profile_items
from bump_pl.data.tasks import TaskSpec, canonical_task_name, get_task


@dataclass
class LampExample:
    """One LaMP question: its user, the query, the gold answer (if known) and the user's profile."""

    id: str
    user_id: str
    input: str
    output: str | None
    profile: list[dict[str, Any]] = field(default_factory=list)


def load_json(path: str | Path) -> Any:
    """Parse a UTF-8 JSON file, turning every failure into a one-line :class:`LampFormatError`."""
    path = Path(path)
    if not path.is_file():
        raise LampFormatError(path, "file does not exist" if not path.exists() else "not a regular file")
    raw = path.read_bytes()
    if not raw.strip():
        raise LampFormatError(path, "file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise LampFormatError(path, f"not valid UTF-8 (byte {err.start}: {raw[err.start:err.start + 1]!r})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise LampFormatError(path, f"malformed JSON at line {err.lineno} column {err.colno}: {err.msg}") from None


def _as_id(value: Any, path: Path, what: str) -> str:
    """An id field as a string (LaMP ids are strings; ints are accepted); anything else is an error."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
        raise LampFormatError(path, f"{what} has a missing or invalid id ({value!r})")
    return str(value)


def _parse_question(entry: Any, index: int, path: Path) -> LampExample:
    """One element of a questions list, checked."""
    if not isinstance(entry, dict):
        raise LampFormatError(path, f"question #{index} is a {type(entry).__name__}, expected an object")
    qid = _as_id(entry.get("id"), path, f"question #{index}")
    question_input = entry.get("input")
    if not isinstance(question_input, str):
        raise LampFormatError(path, f"question {qid!r} has no string 'input'")
    if "profile" not in entry:
        raise LampFormatError(path, f"question {qid!r} has no 'profile'")
    profile = entry["profile"]
    if not isinstance(profile, list):
        raise LampFormatError(path, f"question {qid!r}: 'profile' is a {type(profile).__name__}, expected a list")
    for position, item in enumerate(profile):
        if not isinstance(item, dict):
            raise LampFormatError(path, f"question {qid!r}: profile item #{position} is not an object")
    user_id = entry.get("user_id", qid)
    user_id = _as_id(user_id, path, f"question {qid!r} user_id") if user_id is not None else qid
    return LampExample(id=qid, user_id=user_id, input=question_input, output=None, profile=profile)


def read_lamp_outputs(outputs: str | Path) -> tuple[str | None, dict[str, str]]:
    """Read an outputs file: its ``task`` (``None`` if absent) and ``{question id: gold output}``."""
    path = Path(outputs)
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("golds"), list):
        raise LampFormatError(path, "expected an object with a 'golds' list")
    task = data.get("task")
    if task is not None and not isinstance(task, str):
        raise LampFormatError(path, f"'task' is a {type(task).__name__}, expected a string")
    golds: dict[str, str] = {}
    for index, gold in enumerate(data["golds"]):
        if not isinstance(gold, dict) or "output" not in gold:
            raise LampFormatError(path, f"gold #{index} is not an object with 'id' and 'output'")
        gid = _as_id(gold.get("id"), path, f"gold #{index}")
        if gid in golds:
            raise LampFormatError(path, f"duplicate gold id {gid!r}")
        output = gold["output"]
        if isinstance(output, bool) or not isinstance(output, (str, int, float)):
            raise LampFormatError(path, f"gold {gid!r} has a non-scalar output")
        golds[gid] = str(output)
    return task, golds


def read_lamp_task(outputs: str | Path) -> str | None:
    """The ``task`` recorded in an outputs file (e.g. ``"LaMP_3"``), or ``None`` when it has none."""
    return read_lamp_outputs(outputs)[0]


def _describe(ids: set[str]) -> str:
    shown = sorted(ids)[:3]
    return ", ".join(repr(i) for i in shown) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")


def read_lamp(
    questions: str | Path,
    outputs: str | Path | None = None,
    *,
    task: str | TaskSpec | None = None,
) -> list[LampExample]:
    """Read a LaMP questions file (and optionally its outputs file) into examples, in file order.

    Args:
        questions: path of ``{split}_questions.json``.
        outputs: path of ``{split}_outputs.json``; its gold ids must match the question ids exactly.
        task: when given, every profile item's values are checked for this task and blank items
            dropped (see :mod:`bump_pl.data.items`).

    Raises:
        LampFormatError: missing/empty/non-UTF-8/malformed file, a question without a list
            ``profile``, duplicate question ids, question/gold ids that differ, or (with ``task``)
            an item with no text field for the task or a bad value (naming question, item and field).
    """
    path = Path(questions)
    data = load_json(path)
    if not isinstance(data, list):
        raise LampFormatError(path, f"expected a list of questions, found a {type(data).__name__}")
    if not data:
        raise LampFormatError(path, "contains no questions")
    examples = [_parse_question(entry, index, path) for index, entry in enumerate(data)]
    seen: set[str] = set()
    for example in examples:
        if example.id in seen:
            raise LampFormatError(path, f"duplicate question id {example.id!r}")
        seen.add(example.id)
    if task is not None:
        check_profile_items(examples, get_task(task) if isinstance(task, str) else task, path)
    if outputs is not None:
        _, golds = read_lamp_outputs(outputs)
        missing, extra = seen - golds.keys(), golds.keys() - seen
        if missing or extra:
            problem = "question and output ids do not match:"
            if missing:
                problem += f" no gold for {_describe(missing)}"
            if extra:
                problem += f"{';' if missing else ''} gold without question {_describe(set(extra))}"
            raise LampFormatError(outputs, f"{problem} (questions file {path})")
        for example in examples:
            example.output = golds[example.id]
    return examples


def resolve_task(
    configured: str | None, outputs_files: list[Path], fallback: str | None = None, option: str = "--data.task"
) -> TaskSpec:
    """The task of a data folder: ``configured`` (the command's ``option``), else the one its outputs
    files record. The one place every command resolves a task (``bump``'s ``--data.task``,
    ``bump-downstream``'s ``--task``).

    Never guessed from a folder name, and a configured task that disagrees with a file is refused,
    not preferred. ``fallback`` (e.g. the synthetic users' task) is used when nothing is configured
    or recorded.

    Raises:
        LampFormatError: an outputs file disagrees with the configured task, the outputs files
            disagree with each other (the odd one out is named), a file records an unknown LaMP
            task, or no task is known at all.
        ValueError: ``configured`` is an unknown LaMP task (``LaMP_8``).
    """
    wanted = get_task(configured).name if configured else None
    recorded: dict[Path, str] = {}
    for path in outputs_files:
        if path.exists() and (task := read_lamp_task(path)) is not None:
            recorded[path] = canonical_task_name(task)
    if wanted is not None:
        for path, task in recorded.items():
            if task != wanted:
                raise LampFormatError(
                    path, f"task {task!r} disagrees with {option} {wanted!r}: set {option} {task} or fix the file"
                )
        return get_task(wanted)
    by_task: dict[str, list[Path]] = {}
    for path, task in recorded.items():
        by_task.setdefault(task, []).append(path)
    if len(by_task) > 1:
        odd_task = min(by_task, key=lambda t: (len(by_task[t]), t))
        others = ", ".join(f"{p.name} says {t!r}" for t, paths in by_task.items() if t != odd_task for p in paths)
        raise LampFormatError(
            by_task[odd_task][0],
            f"task {odd_task!r} disagrees with the other outputs files ({others}); no {option} was configured:"
            f" fix the odd file or set {option}",
        )
    if by_task:
        task, paths = next(iter(by_task.items()))
        try:
            return get_task(task)
        except ValueError as error:
            raise LampFormatError(paths[0], str(error)) from None
    if fallback:
        return get_task(fallback)
    names = ", ".join(p.name for p in outputs_files)
    raise LampFormatError(
        outputs_files[0].parent if outputs_files else Path("."),
        f"no task: {option} is not set and no outputs file ({names}) records one; set {option} (e.g. LaMP_3)",
    )
