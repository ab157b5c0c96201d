"""`bump-eval`: reads LaMP outputs files, prints the metrics of `evaluate_lamp`, refuses bad input with exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bump_pl.cli.eval import main
from bump_pl.metrics.lamp import evaluate_lamp

GOLDS = {"310": "2", "311": "4", "312": "3"}
PREDS = {"310": "stars: many", "311": "4", "312": "3.5"}


def _write(path: Path, task: str | None, outputs: dict[str, Any]) -> Path:
    """Write ``outputs`` in LaMP's layout ``{"task", "golds": [{"id", "output"}]}`` (no task when ``None``)."""
    data: dict[str, Any] = {"golds": [{"id": i, "output": o} for i, o in outputs.items()]}
    if task is not None:
        data["task"] = task
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, list[str]]:
    """Run ``main(argv)`` in-process: exit code, stdout, stderr lines."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


@pytest.mark.slow  # a fresh interpreter imports torch via bump_pl.metrics: seconds
def test_subprocess_prints_the_metrics_of_evaluate_lamp(tmp_path: Path) -> None:
    golds = _write(tmp_path / "golds.json", "LaMP_3", GOLDS)
    preds = _write(tmp_path / "preds.json", "LaMP_3", PREDS)
    run = subprocess.run(
        [sys.executable, "-m", "bump_pl.cli.eval", "--golds", str(golds), "--preds", str(preds)],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    printed = json.loads(run.stdout)
    assert printed == evaluate_lamp("LaMP_3", PREDS, GOLDS)
    assert printed["MAE"] == pytest.approx((3 + 0 + 0.5) / 3)  # gold 2, unparsable -> 5


@pytest.mark.slow
def test_subprocess_bad_input_exits_1_with_one_stderr_line(tmp_path: Path) -> None:
    golds = _write(tmp_path / "golds.json", "LaMP_3", GOLDS)
    missing = tmp_path / "nope.json"
    run = subprocess.run(
        [sys.executable, "-m", "bump_pl.cli.eval", "--golds", str(golds), "--preds", str(missing)],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert run.returncode == 1
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and str(missing) in lines[0] and "cannot read" in lines[0]


def test_task_option_overrides_a_golds_file_without_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    golds = _write(tmp_path / "golds.json", None, {"a": "the cat sat"})
    preds = _write(tmp_path / "preds.json", None, {"a": "the cat"})
    code, out, _ = _run(capsys, "--golds", str(golds), "--preds", str(preds), "--task", "LaMP-4")
    assert code == 0
    assert json.loads(out) == pytest.approx({"rouge-1": 0.8, "rouge-L": 0.8})


def test_task_option_overrides_the_files_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A task LaMP does not know is scored as the files say unless --task picks another metric."""
    golds = _write(tmp_path / "golds.json", "my_reviews", GOLDS)
    preds = _write(tmp_path / "preds.json", "my_reviews", PREDS)
    code, out, _ = _run(capsys, "--golds", str(golds), "--preds", str(preds))
    assert code == 0 and set(json.loads(out)) == {"rouge-1", "rouge-L"}
    code, out, _ = _run(capsys, "--golds", str(golds), "--preds", str(preds), "--task", "LaMP-3")
    assert code == 0 and json.loads(out) == evaluate_lamp("LaMP_3", PREDS, GOLDS)


def test_movielens_golds_are_scored_as_bump_downstream_scores_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One task registry: MovieLens_rating is a 1-5 rating task, MAE/RMSE here as in bump-downstream."""
    from bump_pl.data.tasks import metric_task_of

    golds = _write(tmp_path / "golds.json", "MovieLens_rating", GOLDS)
    preds = _write(tmp_path / "preds.json", "MovieLens_rating", PREDS)
    code, out, _ = _run(capsys, "--golds", str(golds), "--preds", str(preds))
    assert metric_task_of("MovieLens_rating") == "LaMP_3"
    assert code == 0 and json.loads(out) == evaluate_lamp("LaMP_3", PREDS, GOLDS) and set(json.loads(out)) == {"MAE", "RMSE"}


def test_an_unknown_lamp_task_is_refused_with_did_you_mean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    golds = _write(tmp_path / "golds.json", None, {"a": "the cat sat"})
    preds = _write(tmp_path / "preds.json", None, {"a": "the cat"})
    code, out, err = _run(capsys, "--golds", str(golds), "--preds", str(preds), "--task", "LaMP_9")
    assert code == 1 and out == "" and len(err) == 1
    assert "unknown LaMP task 'LaMP_9': did you mean 'LaMP_" in err[0] and "(known: LaMP_1," in err[0]


def test_task_option_that_contradicts_a_lamp_files_task_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    golds = _write(tmp_path / "golds.json", "LaMP_3", GOLDS)
    preds = _write(tmp_path / "preds.json", "LaMP_3", PREDS)
    code, out, err = _run(capsys, "--golds", str(golds), "--preds", str(preds), "--task", "LaMP-4")
    assert code == 1 and out == ""
    assert len(err) == 1 and err[0].startswith(f"bump-eval: error: ValueError: {golds}: the file's task is 'LaMP_3', not --task 'LaMP-4'")
    code, out, _ = _run(capsys, "--golds", str(golds), "--preds", str(preds), "--task", "lamp_3")  # the same task: fine
    assert code == 0 and json.loads(out) == evaluate_lamp("LaMP_3", PREDS, GOLDS)


def test_integer_ids_match_string_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    golds = _write(tmp_path / "golds.json", "LaMP_1", {"7": "[1]", "8": "[2]"})
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps({"task": "LaMP-1", "golds": [{"id": 7, "output": "[1]"}, {"id": 8, "output": "[1]"}]}))
    code, out, _ = _run(capsys, "--golds", str(golds), "--preds", str(preds))
    assert code == 0
    assert json.loads(out) == pytest.approx({"accuracy": 0.5, "f1": (2 / 3 + 0) / 2})


@pytest.mark.parametrize(
    ("golds_text", "preds_text", "extra_args", "blamed", "problem"),
    [
        ('{"task": "LaMP_3", "golds": [', None, [], "golds", "not valid JSON"),
        ('[{"id": "1", "output": "2"}]', None, [], "golds", "expected an object"),
        ('{"task": "LaMP_3", "golds": [{"id": "1"}]}', None, [], "golds", 'golds[0] must be an object'),
        ('{"task": "LaMP_3", "golds": [{"id": "1", "output": "2"}, {"id": 1, "output": "3"}]}', None, [],
         "golds", "id '1' appears more than once"),
        ('{"golds": [{"id": "1", "output": "2"}]}', '{"golds": [{"id": "1", "output": "2"}]}', [],
         "golds", "pass --task"),
        (None, '{"task": "LaMP_2", "golds": [{"id": "310", "output": "2"}]}', [], "preds",
         "task 'LaMP_2' does not match 'LaMP_3' in"),
        (None, '{"task": "LaMP_3", "golds": [{"id": "310", "output": "2"}, {"id": "999", "output": "2"}]}', [],
         "preds", "ids do not match"),
    ],
)
def test_bad_input_exits_1_with_one_line_naming_the_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    golds_text: str | None,
    preds_text: str | None,
    extra_args: list[str],
    blamed: str,
    problem: str,
) -> None:
    golds = _write(tmp_path / "golds.json", "LaMP_3", GOLDS)
    preds = _write(tmp_path / "preds.json", "LaMP_3", PREDS)
    if golds_text is not None:
        golds.write_text(golds_text)
    if preds_text is not None:
        preds.write_text(preds_text)
    code, out, err = _run(capsys, "--golds", str(golds), "--preds", str(preds), *extra_args)
    assert code == 1
    assert out == ""
    assert len(err) == 1
    assert str({"golds": golds, "preds": preds}[blamed]) in err[0]
    assert problem in err[0]
