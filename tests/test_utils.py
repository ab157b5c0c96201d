"""The shared helpers: atomic folders, JSONL, Markdown tables, padding, the pad id, eval mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from bump_pl.utils import (
    atomic_dir,
    eval_mode,
    markdown_table,
    numbered_jsonl,
    pad_id_of,
    pad_token_ids,
    write_folder_once,
    write_text_atomic,
)


@pytest.mark.parametrize(
    ("side", "ids", "mask"),
    [
        ("left", [[5, 6, 7], [0, 0, 8]], [[1, 1, 1], [0, 0, 1]]),
        ("right", [[5, 6, 7], [8, 0, 0]], [[1, 1, 1], [1, 0, 0]]),
    ],
)
def test_pad_token_ids(side: str, ids: list[list[int]], mask: list[list[int]]) -> None:
    got_ids, got_mask = pad_token_ids([[5, 6, 7], [8]], 0, side)
    assert torch.equal(got_ids, torch.tensor(ids)) and torch.equal(got_mask, torch.tensor(mask))
    assert got_ids.dtype == got_mask.dtype == torch.long


def test_all_empty_rows_still_have_a_shape() -> None:
    ids, mask = pad_token_ids([[], []], 9, "left")
    assert ids.tolist() == [[9], [9]] and mask.tolist() == [[0], [0]]


@pytest.mark.parametrize(("pad", "eos", "expected"), [(3, 7, 3), (None, 7, 7), (None, None, 0)])
def test_pad_id_falls_back_to_eos_then_zero(pad: int | None, eos: int | None, expected: int) -> None:
    assert pad_id_of(SimpleNamespace(pad_token_id=pad, eos_token_id=eos)) == expected


def test_markdown_table_escapes_cells() -> None:
    table = markdown_table(["user", "profile"], [["u|1", "likes\nsci-fi"], [2, "x"]])
    assert table.splitlines() == ["| user | profile |", "|---|---|", "| u/1 | likes sci-fi |", "| 2 | x |"]


def test_eval_mode_restores_each_submodules_own_mode() -> None:
    outer = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Sequential(torch.nn.Dropout(0.5)))
    outer.train()
    outer[1].eval()  # e.g. a frozen judge inside a training module
    with eval_mode(outer):
        assert not any(module.training for module in outer.modules())
    assert outer.training and outer[0].training and not outer[1].training and not outer[1][0].training


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
