"""experiments/judge_check.py: on the tiny config, the history sources' NDCG equals validation's own
metric over the same groups, chance is the exact formula, and ``source - chance`` is their difference."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml

from bump_pl.core.reward import chance_ndcg
from bump_pl.validation import ValidationNDCG, history_baselines

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "experiments"))  # judge_check imports its sibling ladder.py, as when run as a script
_spec = importlib.util.spec_from_file_location("experiments_judge_check", REPO / "experiments" / "judge_check.py")
judge_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(judge_check)


@pytest.mark.slow
def test_the_check_on_the_tiny_config_agrees_with_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path / "cache"))
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"data": {"users_per_batch": 3}, "model": {"sampling": {"max_new_tokens": 6}}}))
    configs = [str(REPO / "configs" / "tiny.yaml"), str(overlay)]
    out = tmp_path / "check"
    assert judge_check.main([*(a for c in configs for a in ("--config", c)), "--out", str(out), "--samples", "50",
                             "--time_groups", "1"]) == 0
    report = json.loads((out / "judge_check.json").read_text())
    assert (out / "judge_check.md").read_text().startswith("# Judge check")
    assert report["settings"]["users"].startswith("6 of 6 validation users, 2 groups of 3")

    # an independent path: validation's torchmetrics NDCG over the same groups and texts
    from bump_pl.cli import build_cli

    cli = build_cli([a for c in configs for a in ("--config", c)] + ["--trainer.logger", "false"], run=False)
    cli.datamodule.setup("validate")
    metric = ValidationNDCG(dataclasses.replace(cli.model.reward, history_baselines=True))
    for batch in cli.datamodule.val_dataloader():
        texts = history_baselines(batch.context, cli.model.generator.tokenizer, 6)
        metric.score_batch(cli.model.judge, texts, batch.heldout)
    expected = {k: float(v) for k, v in metric.compute().items()}
    for source in ("history_full", "history_budget"):
        for name, suffix in (("ndcg", ""), ("profile_to_item", "_profile_to_item"), ("item_to_profile", "_item_to_profile")):
            assert report["sources"][source][name]["value"] == pytest.approx(expected[f"ndcg_{source}{suffix}"], abs=1e-5)
        above = report["above_chance"][source]["ndcg"]
        assert above["value"] == pytest.approx(report["sources"][source]["ndcg"]["value"] - report["sources"]["chance"]["ndcg"]["value"])
        assert above["low"] <= above["value"] <= above["high"]
    k, users, alpha = 2, 3, cli.model.reward.alpha
    assert cli.datamodule.heldout_per_user == k
    chance = alpha * chance_ndcg(k, users * k) + (1 - alpha) * chance_ndcg(1, users)
    assert report["sources"]["chance"]["ndcg"]["value"] == pytest.approx(chance)
    seconds = report["judge_step_seconds"]
    assert len(seconds) == 1 and seconds[0] > 0


def test_an_existing_out_folder_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert judge_check.main(["--config", "configs/tiny.yaml", "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == f"judge_check.py: error: {tmp_path}: already exists (--out must be a new folder)"
