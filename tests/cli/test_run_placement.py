"""``--trainer.default_root_dir`` on the command line places the run, though a config names the logger's save_dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from bump_pl.cli import build_cli

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("given", [["--trainer.default_root_dir", "elsewhere"], ["--trainer.default_root_dir=elsewhere"]])
def test_default_root_dir_on_the_command_line_moves_the_configs_logger(given):
    cli = build_cli(["--config", str(TINY), *given], run=False)
    assert cli.trainer.logger.save_dir == "elsewhere" and cli.trainer.default_root_dir == "elsewhere"
    assert Path(cli.trainer.logger.log_dir).parts[:2] == ("elsewhere", "tiny")


def test_the_configs_own_placement_and_an_explicit_logger_save_dir_are_kept():
    assert build_cli(["--config", str(TINY)], run=False).trainer.logger.save_dir == "runs"
    args = ["--config", str(TINY), "--trainer.default_root_dir", "elsewhere", "--trainer.logger.init_args.save_dir", "logs"]
    assert build_cli(args, run=False).trainer.logger.save_dir == "logs"
