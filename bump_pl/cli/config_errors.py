"""Config mistakes as one line naming the file (or the command line), the key and the nearest valid key.

jsonargparse reports an unknown key as ``Group 'data' does not accept option 'user_per_batch'`` or
``unrecognized arguments: --data.user_per_batch 3`` (no file, no suggestion) and a bad value as a
multi-line ``Parser key "model.judge": ...``. :func:`explain_parse_error` rewrites those into
:class:`~bump_pl.cli.failure.UsageError` lines; :func:`source_of` finds which ``--config`` file
holds a key (the last one that sets it, since later files override earlier ones).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from bump_pl.cli.failure import UsageError
from bump_pl.did_you_mean import closest, did_you_mean

_UNKNOWN_KEY = (
    re.compile(r"Group '(?P<group>[\w.]+)' does not accept option '(?P<key>[\w.]+)'"),
    re.compile(r"Subcommand '\w+' does not accept option '(?P<key>[\w.]+)'"),
    re.compile(r"Option '(?P<key>[\w.]+)' is not accepted"),
)
_UNRECOGNIZED = re.compile(r"unrecognized arguments: (?P<args>.*)")
_BAD_VALUE = re.compile(r'Parser key "(?P<key>[\w.]+)":')
_GIVEN = re.compile(r"^\s*Given value: (?P<value>.*)$", re.MULTILINE)


def config_files(args: Sequence[str]) -> list[Path]:
    """The ``--config`` files of a command line, in order."""
    files: list[Path] = []
    for index, arg in enumerate(args):
        if arg == "--config" and index + 1 < len(args):
            files.append(Path(args[index + 1]))
        elif arg.startswith("--config="):
            files.append(Path(arg.removeprefix("--config=")))
    return files


def _configs_last_first(args: Sequence[str]) -> Iterator[tuple[Path, Any]]:
    """``(path, parsed YAML)`` of each ``--config`` file in ``args``, the last (the one that wins)
    first; files that cannot be read or parsed are skipped (their own error is reported elsewhere)."""
    for path in reversed(config_files(args)):
        try:
            yield path, yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue


def _lookup(data: Any, key: str) -> bool:
    """Whether the nested mapping ``data`` sets the dotted ``key``."""
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def source_of(key: str, args: Sequence[str]) -> str:
    """Where ``key`` was set: ``"the command line"`` when it names ``--key``, else the last
    ``--config`` file that sets it, else ``"the command line"``."""
    option = f"--{key}"
    if any(arg == option or arg.startswith(option + "=") for arg in args):
        return "the command line"
    for path, data in _configs_last_first(args):
        if _lookup(data, key):
            return str(path)
    return "the command line"


def callback_setting(key: str, args: Sequence[str]) -> str | None:
    """Where a callback's ``init_args`` set the bare ``key`` in a ``--config`` file (jsonargparse
    reports only the key): ``"FILE, trainer.callbacks: NAME"`` plus, for ``DownstreamEvalCallback``'s
    settings of before they moved under ``settings:``, what to write instead; None if no callback does."""
    for path, data in _configs_last_first(args):
        callbacks = ((data or {}).get("trainer") or {}).get("callbacks") if isinstance(data, dict) else None
        for callback in callbacks if isinstance(callbacks, list) else []:
            init_args = callback.get("init_args") if isinstance(callback, dict) else None
            if isinstance(init_args, dict) and key in init_args:
                name = str(callback.get("class_path", "")).rsplit(".", 1)[-1]
                return f"{path}, trainer.callbacks: {name}" + _moved_downstream_setting(name, key)
    return None


def _moved_downstream_setting(callback: str, key: str) -> str:
    """The hint for a ``DownstreamEvalCallback`` setting given the earlier flat way, else ``""``."""
    from dataclasses import fields

    from bump_pl.downstream.settings import DownstreamSettings

    if callback != "DownstreamEvalCallback" or key not in {f.name for f in fields(DownstreamSettings)} | {"max_new_tokens"}:
        return ""
    new = "max_answer_tokens" if key == "max_new_tokens" else key
    return f"; its downstream settings moved under init_args.settings: write settings: {{{new}: ...}} (CHANGELOG.md)"


def _nearest_key(key: str, known_keys: Sequence[str]) -> str:
    hint = did_you_mean(key, known_keys)
    return f"{hint} " if hint else ""


def explain_parse_error(error: argparse.ArgumentError, args: Sequence[str], known_keys: Sequence[str], prog: str) -> UsageError:
    """A one-line :class:`UsageError` for a parse error of ``prog`` on ``args``.

    ``known_keys`` are the subcommand's dotted keys (``data.users_per_batch``); the nearest one
    is suggested for an unknown key.
    """
    message = str(error)
    for pattern in _UNKNOWN_KEY:
        if match := pattern.search(message):
            groups = match.groupdict()
            key = f"{groups['group']}.{groups['key']}" if groups.get("group") else groups["key"]
            if "." not in key and (where := callback_setting(key, args)) is not None:
                return UsageError(f"unknown key {key!r} ({where})")
            return UsageError(
                f"unknown key {key!r} ({source_of(key, args)}): {_nearest_key(key, known_keys)}`{prog} --help` lists the keys"
            )
    if match := _UNRECOGNIZED.search(message):
        first = match.group("args").split()[0]
        if first.startswith("--"):
            key = first[2:].split("=", 1)[0]
            nearest = closest(key, known_keys)
            hint = f"did you mean --{nearest}? " if nearest is not None else ""
            return UsageError(f"unknown option --{key} (command line): {hint}`{prog} --help` lists the options")
        return UsageError(f"unexpected argument {first!r} (command line): `{prog} --help` shows the usage")
    if match := _BAD_VALUE.search(message):
        key = match.group("key")
        given = _GIVEN.search(message)
        if key == "model.judge" and given is not None:
            from bump_pl.judges.config import check_judge_name

            try:
                check_judge_name(given.group("value").strip())
            except ValueError as unknown:
                return UsageError(f"{unknown} ({key}, {source_of(key, args)})")
        lines = [line.strip() for line in message.splitlines()[1:]]
        reason = " ".join(line for line in lines if line and not line.startswith(("Given value", "Subtypes:")))
        return UsageError(f"bad value for {key!r} ({source_of(key, args)}): {reason}")
    return UsageError(" ".join(message.split()))


def check_yaml(path: Path) -> None:
    """Refuse a config file that is not valid YAML or not a mapping, naming the file, line and column.

    Raises:
        UsageError: ``YAML syntax error at line 2 column 15: ... (a.yaml): fix the file``.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UsageError(f"YAML syntax error{where}: {problem} ({path}): fix the file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read the config ({path}): {error}") from None
    if data is not None and not isinstance(data, dict):
        raise UsageError(f"a config holds keys (a mapping), not a {type(data).__name__} ({path}): fix the file")


def check_judge_entry(judge: Any, args: Sequence[str]) -> None:
    """Refuse, before anything is built, a ``model.judge`` entry that names an unknown judge or an
    argument its class does not take (jsonargparse keeps such an entry as a plain dict, which
    would fail only when the model is built), naming the file or the command line.

    Raises:
        UsageError: ``model.judge.init_args: EmbeddingJudge takes no 'poolng': did you mean 'pooling'? ... (FILE)``.
    """
    if not isinstance(judge, dict):
        return
    if not isinstance(judge.get("class_path"), str):  # jsonargparse drops the class of arguments it refused
        init_args = judge.get("init_args") if "init_args" in judge else judge
        class_path = _given_judge_class(args)
        if class_path is None:
            raise UsageError(
                f"model.judge sets init_args {sorted(init_args or {})} without a class_path ({source_of('model.judge', args)}):"
                " add model.judge.class_path (e.g. bump_pl.judges.EmbeddingJudge)"
            )
        judge = {"class_path": class_path, "init_args": init_args}
    from bump_pl.judges.config import build_judge_class, check_judge_init_args

    try:
        check_judge_init_args(build_judge_class(judge["class_path"]), judge.get("init_args") or {})
    except ValueError as error:
        keys = [f"model.judge.init_args.{key}" for key in judge.get("init_args") or {}] + ["model.judge"]
        sources = [source for key in keys if (source := source_of(key, args)) != "the command line"]
        raise UsageError(f"{error} ({sources[0] if sources else 'the command line'})") from None


def _given_judge_class(args: Sequence[str]) -> str | None:
    """The judge class a command line names (``--model.judge X``, ``--model.judge.class_path X``),
    else the last ``--config`` file's ``model.judge.class_path``; None when none names one."""
    for index, arg in enumerate(args):
        for option in ("--model.judge", "--model.judge.class_path"):
            if arg == option and index + 1 < len(args):
                found = args[index + 1]
            elif arg.startswith(option + "="):
                found = arg.split("=", 1)[1]
            else:
                continue
            return found
    for path, data in _configs_last_first(args):
        judge = ((data or {}).get("model") or {}).get("judge") if isinstance(data, dict) else None
        if isinstance(judge, str):
            return judge
        if isinstance(judge, dict) and isinstance(judge.get("class_path"), str):
            return judge["class_path"]
    return None
