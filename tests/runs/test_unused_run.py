"""A command that fails before its first step leaves no run folder; an interrupted fit says how to resume."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from bump_pl.callbacks.fit_end_checkpoint import FitEndCheckpoint
from bump_pl.cli.app import interrupted_fit_report
from bump_pl.runs.folders import new_run_folder, remove_unused_run


def test_only_a_folder_still_to_create_is_new(tmp_path: Path) -> None:
    assert new_run_folder(SimpleNamespace(logger=SimpleNamespace(log_dir=str(tmp_path / "version_0")))) == tmp_path / "version_0"
    assert new_run_folder(SimpleNamespace(logger=SimpleNamespace(log_dir=str(tmp_path)))) is None  # continued run
    assert new_run_folder(SimpleNamespace(logger=None)) is None


def test_only_a_run_folder_holding_setup_files_is_removed(tmp_path: Path) -> None:
    empty, trained, predicted = tmp_path / "version_0", tmp_path / "version_1", tmp_path / "version_2"
    empty.mkdir()
    (empty / "config.yaml").write_text("x: 1\n")
    (empty / "events.out.tfevents.1.host.0").write_bytes(b"")
    (trained / "checkpoints").mkdir(parents=True)
    (trained / "checkpoints" / "last.ckpt").write_bytes(b"x")
    predicted.mkdir()
    (predicted / "predictions.jsonl").write_text("{}\n")
    assert remove_unused_run(empty) and not empty.exists()
    assert not remove_unused_run(trained) and trained.is_dir()
    assert not remove_unused_run(predicted) and predicted.is_dir()


def _trainer(step: int, saved: Path | None, last_model_path: str) -> SimpleNamespace:
    fit_end = FitEndCheckpoint()
    fit_end.interrupted_checkpoint = saved
    return SimpleNamespace(global_step=step, callbacks=[fit_end], checkpoint_callbacks=[SimpleNamespace(last_model_path=last_model_path)])


def test_the_report_names_the_newest_checkpoint_and_the_exact_resume_command(tmp_path: Path) -> None:
    last = tmp_path / "run dir" / "last.ckpt"
    last.parent.mkdir()
    last.write_bytes(b"x")
    args = ["fit", "--config", "tiny", "--ckpt_path", "old.ckpt", "--trainer.max_steps=9"]
    assert interrupted_fit_report(_trainer(3, last, ""), args) == (
        f"bump: fit interrupted: saved step 3 {last}; resume with:"
        f" bump fit --config tiny --trainer.max_steps=9 --ckpt_path '{last}'"
    )
    assert interrupted_fit_report(_trainer(5, None, str(last)), ["fit"]) == (
        f"bump: fit interrupted: step 5 was not saved; the newest checkpoint is {last}; resume with: bump fit --ckpt_path '{last}'"
    )
    assert interrupted_fit_report(_trainer(1, None, ""), ["fit"]) == (
        "bump: fit interrupted at step 1: no checkpoint exists yet, so a new fit starts over"
    )
