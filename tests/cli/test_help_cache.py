"""``bump SUBCOMMAND --help`` is built once per code and package state, then read from the cache."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import bump_pl.cli.bump as bump_cli
import bump_pl.cli.help_cache as help_cache


def test_only_a_bare_subcommand_help_is_cached() -> None:
    assert help_cache.is_bare_help(["fit", "--help"]) and help_cache.is_bare_help(["predict", "-h"])
    assert not help_cache.is_bare_help(["fit", "--config", "tiny", "--help"])  # a config changes the defaults shown
    assert not help_cache.is_bare_help(["configs", "--help"])


def test_help_is_built_once_and_rebuilt_when_a_source_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "src" / "module.py"
    source.parent.mkdir()
    source.write_text("x = 1\n")
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(help_cache, "_source_roots", lambda: [source.parent])
    monkeypatch.setattr(sys, "argv", ["bump"])
    builds: list[list[str]] = []

    def build(args: list[str], run: bool = True) -> None:
        builds.append(args)
        print(f"usage: bump fit ... (build {len(builds)})")
        raise SystemExit(0)

    monkeypatch.setattr(bump_cli, "build_cli", build)

    def help_text() -> str:
        with pytest.raises(SystemExit) as done:
            bump_cli.main(["fit", "--help"])
        assert done.value.code == 0
        return capsys.readouterr().out

    assert help_text() == "usage: bump fit ... (build 1)\n"
    assert help_text() == "usage: bump fit ... (build 1)\n" and len(builds) == 1  # from the cache
    source.write_text("x = 22\n")  # another size: the code changed
    assert help_text() == "usage: bump fit ... (build 2)\n"
    assert builds == [["fit", "--help"], ["fit", "--help"]]
