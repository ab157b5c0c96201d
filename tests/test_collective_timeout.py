"""``--collective_timeout`` reaches the process group of every multi-process strategy."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from lightning.pytorch.strategies import DDPStrategy, DeepSpeedStrategy, FSDPStrategy, SingleDeviceStrategy

from bump_pl.cli import build_cli
from bump_pl.cli.app import DEFAULT_COLLECTIVE_TIMEOUT_S, set_collective_timeout

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"


@pytest.mark.parametrize("strategy_class", [DDPStrategy, FSDPStrategy, DeepSpeedStrategy])
def test_lightning_keeps_the_timeout_where_it_is_set(strategy_class: type) -> None:
    strategy = strategy_class.__new__(strategy_class)  # the attribute, not a full set-up
    strategy._timeout = timedelta(seconds=1)
    set_collective_timeout(strategy, 42)
    assert strategy._timeout == timedelta(seconds=42)
    # what setup_distributed passes to init_process_group: Lightning's own constructor keeps it there
    assert DDPStrategy(timeout=timedelta(seconds=7))._timeout == timedelta(seconds=7)


def test_the_cli_sets_it_on_a_strategy_given_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path / "cache"))
    ddp = ["--trainer.strategy", "ddp", "--trainer.devices", "2"]
    cli = build_cli(["--config", str(TINY), *ddp, "--collective_timeout", "75"], run=False)
    assert isinstance(cli.trainer.strategy, DDPStrategy) and cli.trainer.strategy._timeout == timedelta(seconds=75)
    default = build_cli(["--config", str(TINY), *ddp], run=False)
    assert default.trainer.strategy._timeout == timedelta(seconds=DEFAULT_COLLECTIVE_TIMEOUT_S)
    single = build_cli(["--config", str(TINY)], run=False)
    assert isinstance(single.trainer.strategy, SingleDeviceStrategy)  # nothing to set, nothing fails
    with pytest.raises(ValueError, match="collective_timeout must be > 0"):
        set_collective_timeout(single.trainer.strategy, 0)
    assert os.environ.get("LOCAL_RANK") is None  # building the CLI launched no process
