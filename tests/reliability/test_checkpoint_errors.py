"""``--ckpt_path`` problems end the command with one line naming the file and what is wrong, before
any model is built or validation runs, and leave no run folder; the checkpoint's settings never
override the command's silently."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from bump_pl.runs.checkpoints import CheckpointError, check_weight_settings, read_checkpoint, resolve_checkpoint
from bump_pl.cli import main
from bump_pl.cli.app import BumpCLI
from bump_run import TINY

HPARAMS = {
    "model": "tiny-random-llama",
    "lora": {"rank": 4, "alpha": 8.0, "dropout": 0.0, "target_modules": "all-linear"},
    "group_size": 2,
}


def _save(path: Path, hparams: dict[str, Any] | None = None, step: int = 3) -> Path:
    """A small Lightning-shaped checkpoint (a zip written by ``torch.save``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = {"policy.lora_A": torch.arange(4096, dtype=torch.float32)}
    torch.save({"state_dict": weights, "hyper_parameters": hparams or HPARAMS, "global_step": step}, path)
    return path


def _truncate(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _corrupt(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 64] = bytes(64)  # inside the tensor data: only the CRC can tell
    path.write_bytes(bytes(raw))


def test_missing_truncated_corrupt_and_garbage_are_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nope\.ckpt: missing \(no such file\)$"):
        read_checkpoint(tmp_path / "nope.ckpt")
    truncated = _save(tmp_path / "truncated.ckpt")
    _truncate(truncated)
    with pytest.raises(CheckpointError, match=r"truncated\.ckpt: truncated \(\d+ bytes, the end of the archive is missing\)"):
        read_checkpoint(truncated)
    corrupt = _save(tmp_path / "corrupt.ckpt")
    _corrupt(corrupt)
    with pytest.raises(CheckpointError, match=r"corrupt\.ckpt: corrupt \(member '.*' fails its CRC check\)"):
        read_checkpoint(corrupt)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match=r"garbage\.ckpt: corrupt \(not a PyTorch checkpoint archive\)"):
        read_checkpoint(garbage)
    assert read_checkpoint(_save(tmp_path / "good.ckpt"))["global_step"] == 3


def test_unreadable_pickle_never_suggests_weights_only_false(tmp_path: Path) -> None:
    path = tmp_path / "object.ckpt"
    torch.save({"state_dict": {}, "bad": Path("x")}, path)  # a class weights_only refuses
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert "corrupt (its content cannot be read safely" in str(info.value)
    assert "weights_only" not in str(info.value)


def test_last_and_run_folders_resolve_to_the_newest_last_ckpt(tmp_path: Path) -> None:
    old = _save(tmp_path / "runs/tiny/version_0/checkpoints/last.ckpt")
    new = _save(tmp_path / "runs/tiny/version_1/checkpoints/last.ckpt")
    os.utime(old, ns=(1, 1))
    assert resolve_checkpoint("last", [tmp_path / "elsewhere", tmp_path / "runs/tiny"]) == new
    assert resolve_checkpoint(tmp_path / "runs/tiny/version_0", []) == old
    assert resolve_checkpoint(str(new), []) == new
    with pytest.raises(CheckpointError, match=r"empty: missing: no last\.ckpt in this run folder"):
        resolve_checkpoint("last", [tmp_path / "empty"])


def test_weight_settings_must_match_dropout_and_the_rest_may_differ(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    checkpoint = {"hyper_parameters": HPARAMS}
    same = {**HPARAMS, "lora": {**HPARAMS["lora"], "dropout": 0.1}, "group_size": 8}
    check_weight_settings(path, checkpoint, same)
    with pytest.raises(CheckpointError) as info:
        check_weight_settings(path, checkpoint, {**HPARAMS, "model": "other", "lora": None})
    message = str(info.value)
    assert "--model.model other (checkpoint: tiny-random-llama)" in message
    assert "--model.lora null (checkpoint: {alpha: 8.0, dropout: 0.0, rank: 4, target_modules: all-linear})" in message
    grouped = {"policy": HPARAMS}  # a regrouped module: found at any depth
    with pytest.raises(CheckpointError, match=r"--model\.policy\.lora\.rank 8 \(checkpoint: 4\)"):
        check_weight_settings(path, {"hyper_parameters": grouped}, {"policy": {**HPARAMS, "lora": {**HPARAMS["lora"], "rank": 8}}})


def test_judge_is_compared_with_the_runs_config_yaml(tmp_path: Path) -> None:
    path = _save(tmp_path / "version_0/checkpoints/last.ckpt")
    judge = {"class_path": "bump_pl.judges.EmbeddingJudge", "init_args": {"model": "tiny-random-encoder"}}
    (tmp_path / "version_0/config.yaml").write_text(f"model:\n  judge: {judge}\n")
    check_weight_settings(path, read_checkpoint(path), {**HPARAMS, "judge": judge})
    other = {**judge, "init_args": {"model": "all-minilm-l6-v2"}}
    with pytest.raises(CheckpointError, match=r"--model\.judge\.init_args\.model all-minilm-l6-v2 \(checkpoint: tiny-random-encoder\)"):
        check_weight_settings(path, read_checkpoint(path), {**HPARAMS, "judge": other})


def _no_model(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("the model, data and trainer were instantiated before the checkpoint was checked")


def _run_main(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """``main(args)`` in ``tmp_path``: it must fail with exit 1 before anything is instantiated; its one error line."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BUMP_DEBUG", raising=False)
    monkeypatch.setattr(BumpCLI, "instantiate_classes", _no_model)
    monkeypatch.setattr(sys, "argv", ["bump"])
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("bump: error:")]
    assert len(errors) == 1
    return errors[0]


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("missing", "last.ckpt: missing (no such file)"),
        ("truncated", "last.ckpt: truncated ("),
        ("corrupt", "last.ckpt: corrupt (member"),
        ("lora_rank", "--model.lora.rank 8 (checkpoint: 4)"),
        ("last_without_runs", "runs/tiny: missing: no last.ckpt in this run folder to resume (--ckpt_path last)"),
        ("none", "RuntimeError: the model, data and trainer were instantiated"),  # a good one passes the checks
    ],
)
def test_cli_reports_the_checkpoint_before_building_anything(
    damage: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stored = tmp_path / "saved" / "checkpoints" / "last.ckpt"
    _save(stored, {**HPARAMS, "lora": {**HPARAMS["lora"], "rank": 4}})
    args = ["fit", "--config", str(TINY), "--ckpt_path", str(stored)]
    if damage == "missing":
        stored.unlink()
    elif damage == "truncated":
        _truncate(stored)
    elif damage == "corrupt":
        _corrupt(stored)
    elif damage == "lora_rank":
        args += ["--model.lora.rank", "8"]
    elif damage == "last_without_runs":
        args[-1] = "last"
    line = _run_main(args, tmp_path, monkeypatch, capsys)
    assert ("CheckpointError: " in line or damage == "none") and expected in line, line
    assert "weights_only" not in line
    assert not (tmp_path / "runs").exists()  # no run folder left behind
