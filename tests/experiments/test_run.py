"""experiments/run.py: one command appends one row holding what the run logged."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "experiments"))  # the scripts import plots.py as a sibling script does
_spec = importlib.util.spec_from_file_location("experiments_run", REPO / "experiments" / "run.py")
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)


def test_downstream_cell_reads_the_rank_classification_intervals() -> None:
    interval = lambda v: {"value": v, "low": v - 0.1, "high": v + 0.1}  # noqa: E731
    metrics = {variant: {"MAE@argmax": interval(9.0), "MAE@expected": interval(0.5 + i)}
               for i, variant in enumerate(runner.DOWNSTREAM_VARIANTS)}
    cell = runner.downstream_cell({"rank_classification": {"metrics": metrics}})
    assert cell == ("profile 0.500 [0.40, 0.60]; untrained_profile 1.500 [1.40, 1.60]; other_user_profile 2.500 [2.40, 2.60];"
                    " no_profile 3.500 [3.40, 3.60]; recent_history 4.500 [4.40, 4.60]; retrieved_history 5.500 [5.40, 5.60]")
    del metrics["untrained_profile"], metrics["other_user_profile"]  # a report without those variants
    assert runner.downstream_cell({"rank_classification": {"metrics": metrics}}) == (
        "profile 0.500 [0.40, 0.60]; no_profile 3.500 [3.40, 3.60]; recent_history 4.500 [4.40, 4.60];"
        " retrieved_history 5.500 [5.40, 5.60]")
    assert runner.downstream_cell(None) == "–"


@pytest.mark.slow
def test_one_command_appends_one_row_with_the_logged_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path / "cache"))
    overlay = tmp_path / "two_steps.yaml"
    overlay.write_text("# two steps, one validation after them\ntrainer:\n  max_steps: 2\n  val_check_interval: 2\n")
    results = tmp_path / "results.md"
    args = [str(overlay), "--base", str(REPO / "configs" / "tiny.yaml"), "--runs", str(tmp_path / "runs"),
            "--results", str(results), "--no-downstream"]
    run_dir = runner.main(args)
    runner.main(args)
    lines = results.read_text().splitlines()
    assert lines[2].startswith("| date | overlays: what changed |") and len(lines) == 6  # title, blank, header, rule, 2 rows
    cells = [cell.strip() for cell in lines[4].strip("|").split("|")]
    series = runner.scalars(run_dir)
    before, after = series["val/ndcg"][0][1], series["val/ndcg"][-1][1]
    assert cells[1] == "`two_steps`: two steps, one validation after them" and cells[2] == "2"
    assert cells[5].startswith(f"{before:.3f} → **{after:.3f}** (")
    assert cells[6].startswith(f"{series['val/ndcg_history_budget'][-1][1]:.3f} (")
    copy_rates = [value for _, value in series["train/copy_rate"]]
    assert cells[8] == f"{sum(copy_rates[-4:]) / len(copy_rates[-4:]):.3f}" and cells[11] == "–"
