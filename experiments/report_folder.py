"""An experiment's ``--out`` folder, written whole or not at all: its rows as JSON lines, the report as
JSON and as Markdown (and, for the ladder, a plot), under a temporary name renamed into place."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bump_pl.atomic_files import atomic_dir, jsonl_text


def write_report_folder(
    out: Path, rows_file: str, rows: Iterable[dict[str, Any]], stem: str, report: dict[str, Any], markdown: str,
    draw: Callable[[Path], None] | None = None,
) -> None:
    """``out/rows_file`` (JSON lines), ``out/{stem}.json`` and ``out/{stem}.md``; ``draw(folder)`` adds
    anything else before the folder appears. ``out`` must not exist yet."""
    with atomic_dir(out) as folder:
        (folder / rows_file).write_text(jsonl_text(rows), encoding="utf-8")
        (folder / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        (folder / f"{stem}.md").write_text(markdown, encoding="utf-8")
        if draw is not None:
            draw(folder)
