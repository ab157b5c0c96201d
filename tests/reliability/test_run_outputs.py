"""The end of a command says where its outputs went, and ``last.ckpt`` holds the last step of a fit
whose ``max_steps`` is not a multiple of the checkpoint interval."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from bump_run import TINY, run_bump


@pytest.mark.slow
def test_fit_writes_the_final_step_and_predict_from_a_run_folder_prints_its_file(tmp_path: Path) -> None:
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
