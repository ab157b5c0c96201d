"""Atomic folders and files, and the JSONL reader."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bump_pl.atomic_files import atomic_dir, numbered_jsonl, write_folder_once, write_text_atomic


def test_atomic_dir_leaves_nothing_on_failure(tmp_path: Path) -> None:
    final = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_dir(final) as temp:
        (temp / "half.txt").write_text("x")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_write_folder_once_writes_once_and_accepts_a_concurrent_winner(tmp_path: Path) -> None:
    calls: list[Path] = []

    def write(folder: Path) -> None:
        calls.append(folder)
        (folder / "data.txt").write_text("complete")

    final = tmp_path / "set"
    assert write_folder_once(final, write) == final and (final / "data.txt").read_text() == "complete"
    assert oct(final.stat().st_mode & 0o777) == oct(0o755)
    write_folder_once(final, write)
    assert len(calls) == 1  # the second call finds it

    other = tmp_path / "raced"

    def lose_the_race(folder: Path) -> None:
        os.mkdir(other)  # another process renames its complete folder into place first
        (other / "data.txt").write_text("theirs")
        (folder / "data.txt").write_text("ours")

    assert write_folder_once(other, lose_the_race) == other
    assert (other / "data.txt").read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def test_numbered_jsonl_skips_blank_lines_and_names_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{"b": 2}\n')
    assert list(numbered_jsonl(path)) == [(1, {"a": 1}), (3, {"b": 2})]
    path.write_text('{"a": 1}\n[1]\n')
    with pytest.raises(ValueError, match=r"rows.jsonl: line 2 is not a JSON object"):
        list(numbered_jsonl(path))


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_writes_give_the_modes_the_umask_gives(tmp_path: Path, umask: int) -> None:
    """Files and folders written atomically (predictions, profiles, reports) get what ``open`` and
    ``mkdir`` would give, not mkstemp's owner-only 0600 (or a fixed 0755 for folders)."""
    old = os.umask(umask)
    try:
        (tmp_path / "plain").write_text("x")
        (tmp_path / "plain_dir").mkdir()
        write_text_atomic(tmp_path / "atomic.jsonl", "{}\n")
        with atomic_dir(tmp_path / "folder") as temp:
            write_text_atomic(temp / "report.json", "{}")
    finally:
        os.umask(old)
    mode = lambda path: stat.S_IMODE(path.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "atomic.jsonl") == mode(tmp_path / "plain") == 0o666 & ~umask
    assert mode(tmp_path / "folder" / "report.json") == 0o666 & ~umask
    assert mode(tmp_path / "folder") == mode(tmp_path / "plain_dir") == 0o777 & ~umask
