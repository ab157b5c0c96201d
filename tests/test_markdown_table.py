"""Markdown tables: cells stay inside their column."""

from __future__ import annotations

from bump_pl.markdown_table import markdown_table


def test_markdown_table_escapes_cells() -> None:
    table = markdown_table(["user", "profile"], [["u|1", "likes\nsci-fi"], [2, "x"]])
    assert table.splitlines() == ["| user | profile |", "|---|---|", "| u/1 | likes sci-fi |", "| 2 | x |"]
