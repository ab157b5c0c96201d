"""Tables of text (sample profiles, cached profiles) to whichever loggers a run has configured.

Lightning's loggers share scalars but not text, so each kind is served its own way:

- ``TensorBoardLogger``: a Markdown table with ``add_text`` (the TEXT tab);
- a logger with ``log_table`` (``WandbLogger``): a W&B table; the logger imports ``wandb`` itself,
  so nothing here does;
- any other logger with a ``log_dir`` (``CSVLogger``): one JSON line per table appended to
  ``<log_dir>/text.jsonl``: ``{"tag", "step", "columns", "rows"}``;
- a logger with none of these: a warning naming it and the tag, never a silent drop.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only, rank_zero_warn

from bump_pl.markdown_table import markdown_table

TEXT_FILE = "text.jsonl"


@rank_zero_only
def log_text(loggers: Iterable[Logger], tag: str, header: list[str], rows: Sequence[Sequence[Any]], step: int) -> None:
    """Log the table ``header`` + ``rows`` (cells: str or numbers) under ``tag`` at ``step`` to every logger.

    Runs on global rank 0 only (the loggers' experiments exist there alone).
    """
    rows = [list(row) for row in rows]
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_text(tag, markdown_table(header, rows), global_step=step)
        elif callable(getattr(logger, "log_table", None)):
            logger.log_table(key=tag, columns=header, data=rows, step=step)
        elif getattr(logger, "log_dir", None):
            path = Path(logger.log_dir) / TEXT_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as file:
                file.write(json.dumps({"tag": tag, "step": step, "columns": header, "rows": rows}) + "\n")
        else:
            rank_zero_warn(
                f"bump_pl.text_logging: {type(logger).__name__} takes no text and has no log_dir;"
                f" the {tag!r} tables are not logged to it"
            )
