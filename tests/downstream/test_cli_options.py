"""bump-downstream's options are DownstreamSettings' fields: same names and defaults; old spellings still parse."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from bump_pl.cli.downstream import build_parser, main, parse_args, settings_of
from bump_pl.downstream.settings import DownstreamSettings
from bump_pl.models.lora import LoraSettings

REQUIRED = ["--data_dir", "data", "--profiles", "p.jsonl", "--out", "out"]


def test_every_setting_is_an_option_with_the_dataclass_default() -> None:
    assert settings_of(parse_args(REQUIRED)) == DownstreamSettings()
    help_text = build_parser().format_help()
    assert all(f"--{field.name} " in help_text for field in fields(DownstreamSettings))


def test_old_spellings_parse_as_the_new_names() -> None:
    old = parse_args(
        ["--data-dir", "data", "--profiles", "p.jsonl", "--out", "out", "--max-new-tokens", "3", "--max-train-questions=5"]
        + ["--context-tokens", "24", "--eval-batch-size", "2", "--train-split", "tr", "--metric-task", "LaMP_3"]
    )
    new = parse_args(
        REQUIRED + ["--max_answer_tokens", "3", "--max_train_examples=5", "--context_tokens", "24", "--eval_batch_size", "2"]
        + ["--train_split", "tr", "--metric_task", "LaMP_3"]
    )
    assert old == new and old.data_dir == Path("data") and old.train_split == "tr"
    assert settings_of(new) == DownstreamSettings(
        max_answer_tokens=3, max_train_examples=5, context_tokens=24, eval_batch_size=2, metric_task="LaMP_3"
    )


def test_a_removed_flag_names_its_replacement(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(REQUIRED + ["--lora-rank", "4"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == "bump-downstream: error: --lora-rank was removed; use --lora.rank R --lora.alpha A (--lora-rank R meant alpha 2R)"


def test_an_unknown_flag_is_one_usage_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(REQUIRED + ["--no-such-flag", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bump-downstream: error: unrecognized arguments: --no_such_flag")


def test_a_yaml_config_takes_the_callbacks_settings_block(tmp_path: Path) -> None:
    settings = {"backbone": "tiny-random-llama", "mode": "zero_shot", "max_answer_tokens": None, "lora": {"rank": 4, "alpha": 8}}
    config = tmp_path / "downstream.yaml"
    config.write_text(yaml.safe_dump(settings))
    parsed = settings_of(parse_args(["--config", str(config), *REQUIRED]))
    assert parsed == DownstreamSettings(
        backbone="tiny-random-llama", mode="zero_shot", max_answer_tokens=None, lora=LoraSettings(rank=4, alpha=8.0, dropout=0.0)
    )
