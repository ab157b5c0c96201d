"""End to end on configs/tiny.yaml: ``bump fit`` caches profiles and writes the downstream report;
``bump predict`` writes one profile per user of a questions file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from bump_pl.callbacks import load_profiles
from bump_pl.cli import main
from bump_pl.data import read_lamp

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"
pytestmark = pytest.mark.slow


def _bump(args: list[str]) -> None:
    """``bump ARGS`` in-process; it exits (the failure policy), and must exit 0."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A finished ``bump fit --config configs/tiny.yaml`` in a temporary working dir (its log dir)."""
    work = tmp_path_factory.mktemp("tiny_run")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        patch.setenv("BUMP_PL_CACHE", str(work / "cache"))
        _bump(["fit", "--config", str(CONFIG)])
        yield work / "runs" / "tiny" / "version_0"


def _dev_questions(log_dir: Path) -> Path:
    (path,) = (log_dir.parents[2] / "cache" / "synthetic").glob("*/dev_questions.json")
    return path


def test_fit_writes_the_downstream_report_with_all_variants(tiny_run: Path) -> None:
    (folder,) = (tiny_run / "downstream").iterdir()
    report = json.loads((folder / "report.json").read_text())
    assert folder.name == f"step-{report['step']:06d}" and report["step"] == 4
    variants = ("no_profile", "recent_history", "retrieved_history", "profile")
    for variant in variants:
        assert set(report["metrics"][variant]) == {"MAE", "RMSE"}  # LaMP_3's metric
    assert report["metric_task"] == "LaMP_3" and report["settings"]["mode"] == "zero_shot"
    dev = _dev_questions(tiny_run)
    assert report["eval_ids"] == [example.id for example in read_lamp(dev, task="LaMP_3")]
    table = (folder / "report.md").read_text()
    assert "| profile |" in table and "| retrieved_history |" in table and "| profile - recent_history |" in table

    profiles = load_profiles(report["profile_cache"])
    assert Path(report["profile_cache"]) == tiny_run / "profiles" / "step-000004"
    records = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    by_variant = {v: [r for r in records if r["variant"] == v] for v in variants}
    assert all([r["id"] for r in rows] == report["eval_ids"] for rows in by_variant.values())
    cached = [profiles[(r["user_id"], "val")].strip() for r in by_variant["profile"]]
    assert any(len(text) >= 3 for text in cached)
    assert all(text in r["prompt"] and "User profile:" in r["prompt"] for text, r in zip(cached, by_variant["profile"]))
    assert all(
        "User profile:" not in r["prompt"] and (len(text) < 3 or text not in r["prompt"])
        for text, r in zip(cached, by_variant["no_profile"])
    )

    events = EventAccumulator(str(tiny_run)).Reload()
    assert {f"downstream/{v}/{m}" for v in by_variant for m in ("MAE", "RMSE")} <= set(events.Tags()["scalars"])
    (logged,) = events.Scalars("downstream/profile/MAE")
    assert logged.step == 4 and logged.value == pytest.approx(report["metrics"]["profile"]["MAE"]["value"])


def test_predict_writes_one_profile_per_user_of_the_questions_file(tiny_run: Path) -> None:
    dev = _dev_questions(tiny_run)
    work = tiny_run.parents[2]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        patch.setenv("BUMP_PL_CACHE", str(work / "cache"))
        _bump(["predict", "--config", str(CONFIG), "--ckpt_path", str(tiny_run / "checkpoints" / "last.ckpt"),
              "--data.predict_file", str(dev)])
    rows = [json.loads(line) for line in (tiny_run / "predictions.jsonl").read_text().splitlines()]  # the run's folder
    users = list(dict.fromkeys(example.user_id for example in read_lamp(dev, task="LaMP_3")))
    assert [row["user_id"] for row in rows] == users
    assert all(set(row) == {"user_id", "profile"} and isinstance(row["profile"], str) for row in rows)
