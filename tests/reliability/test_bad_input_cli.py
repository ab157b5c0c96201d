"""Bad input through ``bump fit``: one ``bump: error:`` line naming the file and the problem, exit 1
(a command line the parser refuses: exit 2),
no traceback, and nothing trained first. Most cases run in-process through ``main``; a few
representative ones run as real subprocesses (where warnings and banners also land on stderr).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bump_pl.cli import main
from bump_pl.module import BumpModule
from bump_run import TINY, run_bump

Mutation = Callable[[Path], None]


def _edit(name: str, change: Callable[[Any], None]) -> Mutation:
    """A mutation that loads ``name`` from the folder, applies ``change`` and writes it back."""

    def mutate(folder: Path) -> None:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
        change(data)
        (folder / name).write_text(json.dumps(data), encoding="utf-8")

    return mutate


def _truncate(folder: Path) -> None:
    path = folder / "train_questions.json"
    path.write_text(path.read_text(encoding="utf-8")[:200], encoding="utf-8")


def _latin1_byte(folder: Path) -> None:
    path = folder / "test_questions.json"
    raw = path.read_bytes()
    cut = raw.index(b'"text"') + 12
    path.write_bytes(raw[:cut] + b"caf\xe9" + raw[cut:])


def _drop_text_fields(questions: list[dict]) -> None:
    for field in ("text", "score"):  # LaMP_3 renders an item from its text and score
        questions[2]["profile"][3].pop(field)


def _unchanged(folder: Path) -> None:
    pass


def _no_outputs(folder: Path) -> None:
    for path in folder.glob("*_outputs.json"):
        path.unlink()


def _set_item(field: str, value: Any) -> Callable[[list[dict]], None]:
    def change(questions: list[dict]) -> None:
        questions[5]["profile"][2][field] = value

    return change


# id -> (mutation of a valid folder, extra CLI args, substrings the one error line must contain)
CASES: dict[str, tuple[Mutation, list[str], list[str]]] = {
    "malformed_json": (_truncate, [], ["LampFormatError", "train_questions.json: malformed JSON at line"]),
    "ids_do_not_match": (
        _edit("train_outputs.json", lambda d: d["golds"][0].update(id="not-a-question")),
        [],
        ["train_outputs.json: question and output ids do not match", "'not-a-question'"],
    ),
    "unknown_task_disagrees": (
        _edit("dev_outputs.json", lambda d: d.update(task="LaMP_99")),
        ["--data.task", "LaMP_3"],
        ["dev_outputs.json: task 'LaMP_99' disagrees with --data.task 'LaMP_3'"],
    ),
    "outputs_disagree_nothing_configured": (
        _edit("train_outputs.json", lambda d: d.update(task="LaMP_2")),
        [],
        ["train_outputs.json: task 'LaMP_2' disagrees with the other outputs files", "no --data.task was configured"],
    ),
    "task_never_from_folder_name": (_no_outputs, [], ["no task: --data.task is not set", "set --data.task"]),
    "lone_surrogate_in_text": (
        _edit("train_questions.json", _set_item("text", "a cut-off emoji \ud83d")),
        [],
        ["train_questions.json: question", "field 'text' has a lone surrogate '\\ud83d'"],
    ),
    "score_is_a_word": (
        _edit("train_questions.json", _set_item("score", "five")),
        [],
        ["train_questions.json: question", "field 'score' is 'five', expected a number"],
    ),
    "text_is_a_list": (
        _edit("train_questions.json", _set_item("text", ["a", "b"])),
        [],
        ["train_questions.json: question", "field 'text' is a list"],
    ),
    "profile_missing": (
        _edit("train_questions.json", lambda q: q[1].pop("profile")),
        [],
        ["train_questions.json: question", "has no 'profile'"],
    ),
    "profile_not_a_list": (
        _edit("train_questions.json", lambda q: q[1].update(profile={"text": "one review"})),
        [],
        ["train_questions.json: question", "'profile' is a dict, expected a list"],
    ),
    "item_without_text": (
        _edit("train_questions.json", _drop_text_fields),
        [],
        ["train_questions.json: question", "has no text field for LaMP_3"],
    ),
    "not_utf8": (_latin1_byte, [], ["test_questions.json: not valid UTF-8", "b'\\xe9'"]),
    "duplicate_question_id": (
        _edit("train_questions.json", lambda q: q[3].update(id=q[2]["id"])),
        [],
        ["train_questions.json: duplicate question id"],
    ),
    "every_user_too_short": (
        _unchanged,
        ["--data.heldout_per_user", "20"],
        ["train_questions.json: no user has at least heldout_per_user + min_context_items = 22 profile items"],
    ),
    "one_user_per_batch": (
        _unchanged,
        ["--data.users_per_batch", "1"],
        ["ValueError: data.users_per_batch=1 on 1 rank(s)", "no negatives", "use users_per_batch >= 2"],
    ),
    "missing_model_path": (_unchanged, ["--model.model", "./nope"], ["ModelNotFoundError", "'./nope'"]),
    "unknown_model_offline": (
        _unchanged,
        ["--model.model", "no-such-model-alias"],
        ["ModelNotFoundError", "'no-such-model-alias'", "HF_HUB_OFFLINE"],
    ),
    "data_dir_without_clearing_synthetic": (
        _unchanged,
        ["--data.synthetic", "__keep__"],
        ["exactly one of data_dir", "--data.synthetic null"],
    ),
}


def _fit_args(folder: Path, extra: list[str]) -> list[str]:
    """``fit`` on tiny.yaml switched to ``folder`` (``--data.synthetic __keep__`` keeps tiny's synthetic)."""
    args = ["fit", "--config", str(TINY), "--data.data_dir", str(folder)]
    if extra[:2] == ["--data.synthetic", "__keep__"]:
        return args + extra[2:]
    return args + ["--data.synthetic", "null", *extra]


def _corrupted(valid: Path, tmp_path: Path, mutate: Mutation) -> Path:
    folder = tmp_path / "LaMP_3"
    shutil.copytree(valid, folder)
    mutate(folder)
    return folder


# id -> (extra CLI args, substrings of the one error line): the parser refuses them, exit 2 (usage).
USAGE_CASES: dict[str, tuple[list[str], list[str]]] = {
    "wrong_type_config_value": (["--model.group_size", "abc"], ["model.group_size", "int"]),
}


def _assert_one_error_line(stderr: str, expected: list[str], usage: bool = False) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("bump: error:")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr, stderr
    for text in expected:
        assert text in errors[0], errors[0]
    assert errors[0].endswith("(set BUMP_DEBUG=1 for the traceback)") != usage
    return errors[0]


def _no_training(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("a training step ran before the bad input was reported")


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_ends_with_one_error_line_before_training(
    case: str, valid_lamp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mutate, extra, expected = CASES[case]
    folder = _corrupted(valid_lamp, tmp_path, mutate)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BUMP_DEBUG", raising=False)
    monkeypatch.setattr(BumpModule, "training_step", _no_training)
    monkeypatch.setattr(sys, "argv", ["bump"])  # main(args) alone, not pytest's own arguments
    with pytest.raises(SystemExit) as exit_info:
        main(_fit_args(folder, extra))
    assert exit_info.value.code == 1
    _assert_one_error_line(capsys.readouterr().err, expected)
    assert not list(tmp_path.glob("runs/**/version_*"))  # a failed setup leaves no run folder


@pytest.mark.parametrize("case", list(USAGE_CASES))
def test_usage_errors_exit_2_with_one_line(
    case: str, valid_lamp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    extra, expected = USAGE_CASES[case]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUMP_DEBUG", raising=False)
    monkeypatch.setattr(sys, "argv", ["bump"])
    with pytest.raises(SystemExit) as exit_info:
        main(_fit_args(valid_lamp, extra))
    assert exit_info.value.code == 2
    _assert_one_error_line(capsys.readouterr().err, expected, usage=True)
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["malformed_json", "missing_model_path", "wrong_type_config_value"])
def test_bad_input_in_a_real_subprocess(case: str, valid_lamp: Path, tmp_path: Path) -> None:
    usage = case in USAGE_CASES
    mutate, extra, expected = (_unchanged, *USAGE_CASES[case]) if usage else CASES[case]
    folder = _corrupted(valid_lamp, tmp_path, mutate)
    result = run_bump(_fit_args(folder, extra), tmp_path)
    assert result.returncode == (2 if usage else 1)
    _assert_one_error_line(result.stderr, expected, usage)
    assert "Traceback" not in result.stdout


@pytest.mark.slow
def test_bump_debug_shows_the_traceback(valid_lamp: Path, tmp_path: Path) -> None:
    folder = _corrupted(valid_lamp, tmp_path, _truncate)
    result = run_bump(_fit_args(folder, []), tmp_path, debug=True)
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "LampFormatError" in result.stderr and "train_questions.json: malformed JSON" in result.stderr
    assert not any(line.startswith("bump: error:") for line in result.stderr.splitlines())


def test_ranking_size_counts_the_users_of_every_rank_with_global_negatives() -> None:
    from bump_pl.core.reward import check_ranking_size

    check_ranking_size(1, 2, "global")  # two ranks, one user each: each ranking holds 2 users
    check_ranking_size(2, 1, "local")
    with pytest.raises(ValueError, match=r"ranks 1 user against itself"):
        check_ranking_size(1, 2, "local")
