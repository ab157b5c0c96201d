"""Inputs of ``bump-downstream``: a split's users with their questions and golds, and profiles files.

Every problem is a one-line error naming the file: a missing questions or outputs file, a task that
disagrees with the outputs file, a malformed profiles line, a user of the split without a profile.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from bump_pl.atomic_files import numbered_jsonl
from bump_pl.data.errors import LampFormatError
from bump_pl.data.lamp import read_lamp
from bump_pl.data.lamp import resolve_task as resolve_folder_task
from bump_pl.data.tasks import TaskSpec
from bump_pl.data.users import UserHistory, group_users


def split_files(data_dir: Path, split: str) -> tuple[Path, Path]:
    """``({split}_questions.json, {split}_outputs.json)`` of ``data_dir``; both must exist."""
    questions, outputs = data_dir / f"{split}_questions.json", data_dir / f"{split}_outputs.json"
    for path in (questions, outputs):
        if not path.is_file():
            raise LampFormatError(path, f"file does not exist (split {split!r} needs questions and gold outputs)")
    return questions, outputs


def resolve_task(task: str | None, outputs: Path) -> TaskSpec:
    """``--task`` checked against the outputs file's ``task``, else the file's (:func:`bump_pl.data.lamp.resolve_task`)."""
    return resolve_folder_task(task, [outputs], option="--task")


def read_split(data_dir: Path, split: str, task: TaskSpec) -> list[UserHistory]:
    """Every user of the split (none skipped, however short), with their questions and golds."""
    questions, outputs = split_files(data_dir, split)
    return group_users(read_lamp(questions, outputs, task=task))


def read_profiles(paths: Sequence[Path]) -> dict[str, str]:
    """``{user_id: profile}`` from JSON-lines files of ``{"user_id", "profile"}`` (``bump predict``'s output).

    A user listed twice with different profiles is an error; blank lines are skipped.
    """
    profiles: dict[str, str] = {}
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: profiles file does not exist")
        for number, row in numbered_jsonl(path):
            if not isinstance(row.get("user_id"), (str, int)) or not isinstance(row.get("profile"), str):
                raise ValueError(f'{path}: line {number} is not an object with a "user_id" and a string "profile"')
            user, profile = str(row["user_id"]), row["profile"]
            if profiles.get(user, profile) != profile:
                raise ValueError(f"{path}: line {number}: user {user!r} already has a different profile")
            profiles[user] = profile
    return profiles


def check_covered(profiles: dict[str, str], user_ids: Collection[str], sources: Sequence[Path], split: str) -> None:
    """Every user of ``user_ids`` has a profile, else an error naming the files and a few missing users."""
    missing = [user for user in user_ids if user not in profiles]
    if missing:
        shown = ", ".join(repr(user) for user in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        files = ", ".join(str(path) for path in sources)
        raise ValueError(f"{files}: no profile for {len(missing)} of {len(user_ids)} {split} users ({shown})")
