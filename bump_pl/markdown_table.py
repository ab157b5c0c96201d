"""Markdown tables for text logs and reports (TensorBoard text, ``report.md``, experiment tables)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def markdown_cell(text: str) -> str:
    """``text`` safe inside one Markdown table cell (no ``|``, no line breaks)."""
    return str(text).replace("|", "/").replace("\r", " ").replace("\n", " ")


def markdown_table(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    """A Markdown table: ``header`` then one line per row, every cell made safe by :func:`markdown_cell`."""
    lines = ["| " + " | ".join(map(markdown_cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(markdown_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
