"""experiments/compare_downstream.py: one variant of each run, the same questions, paired over users."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from bump_pl.downstream.bootstrap import bootstrap_report

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))  # compare_downstream.py imports ladder.py as a sibling script does
_spec = importlib.util.spec_from_file_location("experiments_compare_downstream", EXPERIMENTS / "compare_downstream.py")
compare_downstream = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_downstream)

QUESTIONS = [("q1", "u1", "4"), ("q2", "u1", "5"), ("q3", "u2", "2"), ("q4", "u2", "3"), ("q5", "u3", "1"), ("q6", "u3", "4")]


def _downstream(folder: Path, answers: dict[str, list[float]], questions=QUESTIONS) -> Path:
    """A bump-downstream --out folder whose variants gave ``answers`` (graded) to ``questions``."""
    folder.mkdir()
    rows = [{"variant": variant, "id": qid, "user_id": user, "gold": gold, "prediction": "3",
             "prediction@argmax": "3", "prediction@expected": str(value)}
            for variant, values in answers.items() for (qid, user, gold), value in zip(questions, values, strict=True)]
    (folder / "predictions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / "report.json").write_text(json.dumps({"metric_task": "LaMP_3"}))
    return folder


def _reader_check(folder: Path, answers: dict[str, list[float]]) -> Path:
    """An experiments/reader_check.py --out folder (one row per question, a column per variant)."""
    folder.mkdir()
    rows = [{"id": qid, "user_id": user, "gold": gold, **{variant: values[i] for variant, values in answers.items()}}
            for i, (qid, user, gold) in enumerate(QUESTIONS)]
    (folder / "predictions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / "reader_check.json").write_text(json.dumps({"questions": len(rows)}))
    return folder


A = [4.0, 4.0, 3.0, 3.0, 2.0, 3.0]  # absolute errors 0 1 1 0 1 1: MAE 4/6
B = [4.0, 5.0, 2.0, 3.0, 3.0, 4.0]  # errors 0 0 0 0 2 0: MAE 2/6


def test_the_difference_is_the_reference_minus_each_run_with_the_reports_own_interval(tmp_path: Path) -> None:
    first = _downstream(tmp_path / "first", {"profile": A, "untrained_profile": B})
    second = _downstream(tmp_path / "second", {"profile": B})
    text = compare_downstream.compare({"first": (first, "profile"), "second": (second, "profile"),
                                       "first_untrained": (first, "untrained_profile")}, samples=200, seed=3)
    # what bump-downstream's report computes for the two variants of one run, on the same resamples
    golds, users = [gold for _, _, gold in QUESTIONS], [user for _, user, _ in QUESTIONS]
    _, differences = bootstrap_report("LaMP_3", {"profile": [str(v) for v in A], "b": [str(v) for v in B]}, golds, ["b"],
                                      users, samples=200, seed=3)
    mae = differences["profile - b"]["MAE"]
    assert mae["value"] == pytest.approx(4 / 6 - 2 / 6)
    expected = f"+{mae['value']:.3f} [{mae['low']:.3f}, {mae['high']:.3f}]"
    assert f"| first − second | {expected} |" in text
    assert f"| first − first_untrained | {expected} |" in text
    assert "| first | `profile` | 0.667 [" in text and "| second | `profile` | 0.333 [" in text
    assert "6 questions of 3 users" in text


def test_a_reader_check_folder_is_read_by_its_variant_columns(tmp_path: Path) -> None:
    downstream = _downstream(tmp_path / "downstream", {"profile": A})
    reader = _reader_check(tmp_path / "reader", {"profile": B, "history_mean": A})
    text = compare_downstream.compare({"d": (downstream, "profile"), "mean": (reader, "history_mean")}, samples=50)
    assert "| d − mean | +0.000 [0.000, 0.000] |" in text  # the same answers, whichever folder holds them
    assert "| mean | `history_mean` | 0.667 [" in text


def test_the_answer_kind_picks_the_column(tmp_path: Path) -> None:
    first = _downstream(tmp_path / "first", {"profile": A})
    second = _downstream(tmp_path / "second", {"profile": B})
    text = compare_downstream.compare({"first": (first, "profile"), "second": (second, "profile")}, kind="generated", samples=50)
    assert "| first − second | +0.000 [0.000, 0.000] |" in text  # both generated "3" everywhere
    assert "prediction)" in text.splitlines()[0]


def test_runs_of_other_questions_are_refused_in_one_line(tmp_path: Path) -> None:
    first = _downstream(tmp_path / "first", {"profile": A})
    fewer = _downstream(tmp_path / "fewer", {"profile": A[:4]}, QUESTIONS[:4])
    with pytest.raises(compare_downstream.CompareError, match=r"fewer: answered other questions than .*first \(4 vs 6"):
        compare_downstream.compare({"first": (first, "profile"), "fewer": (fewer, "profile")})
    regraded = _downstream(tmp_path / "regraded", {"profile": A}, [(q, u, "5") for q, u, _ in QUESTIONS])
    with pytest.raises(compare_downstream.CompareError, match="regraded: a question's user or gold differs"):
        compare_downstream.compare({"first": (first, "profile"), "regraded": (regraded, "profile")})


def test_a_missing_variant_or_folder_is_one_line_on_stderr(tmp_path: Path, capsys) -> None:
    first = _downstream(tmp_path / "first", {"profile": A, "no_profile": B})
    assert compare_downstream.main([f"a={first}", f"b={first}:retrieved_history"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no answers of variant 'retrieved_history' (it has no_profile, profile)" in error
    assert compare_downstream.main([f"a={first}", f"b={tmp_path}"]) == 2
    assert "neither report.json nor reader_check.json" in capsys.readouterr().err
    no_task = _downstream(tmp_path / "no_task", {"profile": A})
    (no_task / "report.json").write_text("{}")
    assert compare_downstream.main([f"a={first}", f"b={no_task}"]) == 2
    assert "report.json: no metric_task" in capsys.readouterr().err
    assert compare_downstream.main([f"a={first}", f"a={first}"]) == 2
    assert "labels unique" in capsys.readouterr().err


def _tables(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def test_pooled_runs_average_their_mae_and_a_run_pooled_with_a_copy_of_itself_changes_no_figure(tmp_path: Path) -> None:
    a, a_again = _downstream(tmp_path / "a", {"profile": A}), _downstream(tmp_path / "a_again", {"profile": A})
    b = _downstream(tmp_path / "b", {"profile": B})
    single = compare_downstream.compare({"a": (a, "profile"), "b": (b, "profile")}, samples=200, seed=3)
    doubled = compare_downstream.compare({"a": ((a, a_again), "profile"), "b": (b, "profile")}, samples=200, seed=3)
    assert _tables(doubled) == _tables(single)  # every question twice, every user's share unchanged
    text = compare_downstream.compare({"ab": ((a, b), "profile"), "b": (b, "profile")}, samples=200, seed=3)
    assert "| ab | `profile` | 0.500 [" in text  # (4/6 + 2/6) / 2
    assert "| ab − b | +0.167 [" in text  # 0.5 - 2/6
    assert f"ab = {a} + {b}" in text and "6 questions of 3 users" in text


def test_pools_of_other_sizes_and_a_pooled_folder_of_other_questions_are_refused_in_one_line(tmp_path: Path, capsys) -> None:
    a, b, c = (_downstream(tmp_path / name, {"profile": A}) for name in "abc")
    assert compare_downstream.main([f"two={a}+{b}", f"three={a}+{b}+{c}"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "two: pools 2 folders and another run 3; give each run 1 or 3" in error
    fewer = _downstream(tmp_path / "fewer", {"profile": A[:4]}, QUESTIONS[:4])
    assert compare_downstream.main([f"a={a}", f"pool={b}+{fewer}"]) == 2
    assert "fewer: answered other questions than" in capsys.readouterr().err
    assert compare_downstream.main([f"pool={a}+{b}", f"c={c}"]) == 0
    assert f"pool = {a} + {b}" in capsys.readouterr().out
