"""The failure policy of every command: usage 2, bad input 1, Ctrl-C 130, SIGTERM 143, one stderr line, BUMP_DEBUG re-raises."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import bump_pl.cli.bump as bump_cli
import bump_pl.cli.data as data_cli
import bump_pl.cli.eval as eval_cli
from bump_pl.cli.failure import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, Terminated, UsageError, error_line, run_command


def _interrupt(*args: object, **kwargs: object) -> None:
    raise KeyboardInterrupt


def _stderr_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUMP_DEBUG", raising=False)


def test_error_line_formats_each_class() -> None:
    assert error_line("x", UsageError("no --out: see `x --help`")) == "x: error: no --out: see `x --help`"
    error = RuntimeError("boom\n  Given value: 3\nsecond line")
    error.__notes__ = ["rank 1, step 2"]
    assert error_line("x", error) == "x: error: rank 1, step 2: RuntimeError: boom second line (set BUMP_DEBUG=1 for the traceback)"
    assert error_line("x", KeyboardInterrupt()) == "x: interrupted (Ctrl-C)"


def test_sigterm_exits_143_with_one_line_even_under_bump_debug(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BUMP_DEBUG", "1")  # a preemption is no bug: no traceback
    assert run_command("x", lambda: (_ for _ in ()).throw(Terminated())) == 143
    assert _stderr_line(capsys) == "x: stopped by SIGTERM"


def test_bump_debug_lets_the_traceback_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUMP_DEBUG", "1")
    with pytest.raises(ValueError, match="shown"):
        run_command("x", lambda: (_ for _ in ()).throw(ValueError("shown")))


# bump-data


def test_bump_data_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert data_cli.main(["download", "--task", "LaMP_3", "--out", "x"]) == EXIT_USAGE
    line = _stderr_line(capsys)
    assert line.startswith("bump-data: error: the following arguments are required: --split")
    assert "bump-data download --help" in line


def test_bump_data_bad_input_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert data_cli.main(["download", "--task", "LaMP_6", "--split", "dev", "--out", str(tmp_path / "d")]) == EXIT_FAILURE
    assert _stderr_line(capsys).startswith("bump-data: error: ValueError: LaMP_6 is built from the licensed Avocado corpus")


def test_bump_data_ctrl_c_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(data_cli, "download_lamp", _interrupt)
    assert data_cli.main(["download", "--task", "LaMP_3", "--split", "dev", "--out", str(tmp_path)]) == EXIT_INTERRUPTED
    assert _stderr_line(capsys) == "bump-data: interrupted (Ctrl-C)"


# bump-eval


def test_bump_eval_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert eval_cli.main(["--golds", "g.json"]) == EXIT_USAGE
    assert _stderr_line(capsys) == "bump-eval: error: the following arguments are required: --preds: see `bump-eval --help`"


def test_bump_eval_bad_input_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    golds = tmp_path / "golds.json"
    golds.write_text(json.dumps({"task": "LaMP_3", "golds": [{"id": "1", "output": "2"}]}))
    assert eval_cli.main(["--golds", str(golds), "--preds", str(tmp_path / "none.json")]) == EXIT_FAILURE
    line = _stderr_line(capsys)
    assert line.startswith("bump-eval: error: ValueError: ") and "none.json: cannot read the file" in line


def test_bump_eval_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(eval_cli, "read_outputs", _interrupt)
    assert eval_cli.main(["--golds", "g.json", "--preds", "p.json"]) == EXIT_INTERRUPTED
    assert _stderr_line(capsys) == "bump-eval: interrupted (Ctrl-C)"


# bump (bad input: tests/reliability/test_bad_input_cli.py and test_checkpoint_errors.py, exit 1)


def _bump_exit(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys, "argv", ["bump"])
    with pytest.raises(SystemExit) as exit_info:
        bump_cli.main(args)
    return int(exit_info.value.code)


def test_bump_usage_error_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert _bump_exit(["fitt"], monkeypatch) == EXIT_USAGE
    assert _stderr_line(capsys).startswith("bump: error: ")
    assert not (tmp_path / "runs").exists()


def test_bump_bad_input_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def bad(args: list[str], run: bool = True) -> None:
        raise FileNotFoundError("data.json: file does not exist")

    monkeypatch.setattr(bump_cli, "build_cli", bad)
    assert _bump_exit(["fit"], monkeypatch) == EXIT_FAILURE
    assert _stderr_line(capsys) == (
        "bump: error: FileNotFoundError: data.json: file does not exist (set BUMP_DEBUG=1 for the traceback)"
    )


def test_bump_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bump_cli, "build_cli", _interrupt)
    assert _bump_exit(["fit"], monkeypatch) == EXIT_INTERRUPTED
    assert _stderr_line(capsys) == "bump: interrupted (Ctrl-C)"


# bump-downstream (its parser is jsonargparse's: a usage error exits 2 with its usage block)


def _downstream_exit(args: list[str]) -> int:
    import bump_pl.cli.downstream as downstream_cli

    with pytest.raises(SystemExit) as exit_info:
        downstream_cli.main(args)
    return int(exit_info.value.code)


def test_bump_downstream_usage_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _downstream_exit(["--data_dir", str(tmp_path), "--profiles", "p.jsonl"]) == EXIT_USAGE  # no --out
    assert "--out" in capsys.readouterr().err


def test_bump_downstream_bad_input_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--data_dir", str(tmp_path / "none"), "--profiles", "p.jsonl", "--out", str(tmp_path / "out")]
    assert _downstream_exit(args) == EXIT_FAILURE
    line = _stderr_line(capsys)
    assert line.startswith("bump-downstream: error: LampFormatError: ") and "dev_questions.json: file does not exist" in line
    assert not (tmp_path / "out").exists()


def test_bump_downstream_ctrl_c_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import bump_pl.cli.downstream as downstream_cli

    monkeypatch.setattr(downstream_cli, "run", _interrupt)
    assert _downstream_exit(["--data_dir", str(tmp_path), "--profiles", "p.jsonl", "--out", str(tmp_path / "o")]) == EXIT_INTERRUPTED
    assert _stderr_line(capsys) == "bump-downstream: interrupted (Ctrl-C)"
