"""The end of a command says where its outputs went, ``last.ckpt`` holds the last step of a fit
whose ``max_steps`` is not a multiple of the checkpoint interval, and validate/test/predict on a
run's checkpoint log into that run's folder (not a new ``version_N``), keeping the fit's config."""

from __future__ import annotations

from pathlib import Path

import shutil

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from bump_run import TINY, run_bump


@pytest.mark.slow
def test_fit_writes_the_final_step_and_later_commands_log_into_its_run_folder(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({
        "trainer": {
            "max_steps": 3,  # the checkpoint interval is 2: ModelCheckpoint alone would keep step 2
            "limit_val_batches": 0,
            "callbacks": [
                {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                 "init_args": {"save_last": True, "every_n_train_steps": 2}},
                {"class_path": "bump_pl.callbacks.ProfileWriter"},
            ],
        },
        "model": {"sampling": {"max_new_tokens": 4}},
        "validate_before_fit": False,
    }))
    config = ["--config", str(TINY), "--config", str(overlay)]
    fit = run_bump(["fit", *config], tmp_path)
    assert fit.returncode == 0, fit.stderr
    last = tmp_path / "runs/tiny/version_0/checkpoints/last.ckpt"
    assert torch.load(last, weights_only=True, map_location="cpu")["global_step"] == 3
    assert "bump: fit: logs (TensorBoard): runs/tiny/version_0" in fit.stdout
    assert "bump: fit: last checkpoint: runs/tiny/version_0/checkpoints/last.ckpt" in fit.stdout

    (questions,) = (tmp_path / "cache").glob("synthetic/*/dev_questions.json")
    predict = run_bump(["predict", *config, "--ckpt_path", "runs/tiny", "--data.predict_file", str(questions)], tmp_path)
    assert predict.returncode == 0, predict.stderr
    (line,) = [line for line in predict.stdout.splitlines() if line.startswith("bump: predict: predictions: ")]
    written = tmp_path / line.removeprefix("bump: predict: predictions: ")
    assert written.is_file() and len(written.read_text().splitlines()) == len(yaml.safe_load(questions.read_text()))
    run = tmp_path / "runs/tiny/version_0"
    assert written == run / "predictions.jsonl"
    assert "bump: predict: checkpoint runs/tiny/version_0/checkpoints/last.ckpt (step 3), logging to runs/tiny/version_0" in predict.stdout

    fit_config = (run / "config.yaml").read_text()
    for subcommand, ckpt, limit in (
        ("validate", str(last.relative_to(tmp_path)), "--trainer.limit_val_batches"),
        ("test", "last", "--trainer.limit_test_batches"),
    ):
        done = run_bump([subcommand, *config, "--ckpt_path", ckpt, limit, "1"], tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"bump: {subcommand}: logs (TensorBoard): runs/tiny/version_0" in done.stdout
        assert (run / f"{subcommand}-config.yaml").is_file()
    assert sorted(p.name for p in (tmp_path / "runs/tiny").iterdir()) == ["version_0"]  # no new version folder
    assert (run / "config.yaml").read_text() == fit_config  # the fit's config is kept
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("val/ndcg")] == [3] and [e.step for e in events.Scalars("test/ndcg")] == [3]

    elsewhere = tmp_path / "elsewhere.ckpt"  # a checkpoint outside the logger's folder: a new run, as before
    shutil.copy(last, elsewhere)
    done = run_bump(["validate", *config, "--ckpt_path", str(elsewhere), "--trainer.limit_val_batches", "1"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "bump: validate: logs (TensorBoard): runs/tiny/version_1" in done.stdout
