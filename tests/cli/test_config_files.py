"""Shipped configs resolve by name; an existing path always wins; `bump configs` lists and copies them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bump_pl.cli.failure import UsageError
from bump_pl.cli.config_files import configs_command, resolve_config, resolve_config_args, shipped_configs

REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_every_yaml_of_the_source_tree_is_shipped() -> None:
    names = set(shipped_configs())
    expected = {p.relative_to(REPO_CONFIGS).with_suffix("").as_posix() for p in REPO_CONFIGS.rglob("*.yaml")}
    assert names == expected and {"tiny", "lamp/LaMP_3", "strategy/ddp"} <= names


@pytest.mark.parametrize("value", ["tiny", "tiny.yaml", "configs/tiny.yaml"])
def test_names_resolve_to_the_shipped_file(value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no configs/ here
    assert Path(resolve_config(value)).read_text() == (REPO_CONFIGS / "tiny.yaml").read_text()


def test_existing_path_wins_and_unknown_names_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("tiny").write_text("seed_everything: 1\n")
    assert resolve_config("tiny") == "tiny"
    with pytest.raises(UsageError, match=r"no such file, and unknown shipped config 'nope/none': \(known: .*\) \(--config nope/none\.yaml\)"):
        resolve_config("nope/none.yaml")
    with pytest.raises(UsageError, match=r"unknown shipped config 'lamp/LaMP3': did you mean 'lamp/LaMP_3'\?"):
        resolve_config("lamp/LaMP3")


def test_only_config_values_are_rewritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = resolve_config_args(["fit", "--config", "tiny", "--config=strategy/ddp", "--model.model", "tiny"])
    assert args[0] == "fit" and args[-2:] == ["--model.model", "tiny"]
    assert [Path(args[2]), Path(args[4])] == [shipped_configs()["cpu/base"], shipped_configs()["tiny"]]  # its base first
    assert args[5] == f"--config={shipped_configs()['strategy/ddp']}"


def test_a_copied_overlay_keeps_its_shipped_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("mine.yaml").write_text("# my run\n# base: cpu/base.yaml\nseed_everything: 3\n")
    assert resolve_config_args(["--config", "mine.yaml"]) == ["--config", str(shipped_configs()["cpu/base"]), "--config", "mine.yaml"]
    assert resolve_config_args(["fit", "--config"]) == ["fit", "--config"]  # the parser reports the missing value


def test_configs_command_lists_and_copies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert configs_command([]) == 0
    listing = capsys.readouterr().out
    assert "lamp/LaMP_3" in listing and "tiny" in listing
    assert configs_command(["copy", "lamp/LaMP_3", str(tmp_path)]) == 0
    assert (tmp_path / "LaMP_3.yaml").read_text() == (REPO_CONFIGS / "lamp" / "LaMP_3.yaml").read_text()
    assert configs_command(["copy", "lamp/LaMP_3", str(tmp_path)]) == 1  # never overwrites
    assert configs_command(["copy", "nope", str(tmp_path)]) == 1
    assert "unknown shipped config 'nope'" in capsys.readouterr().err
