"""``bump-eval``: score a LaMP predictions file against its golds with LaMP's official metrics.

    bump-eval --golds dev_outputs.json --preds preds.json [--task LaMP_3]

Both files use LaMP's outputs layout ``{"task": "LaMP_3", "golds": [{"id": "310", "output": "4"}, ...]}``.
The metrics are printed as one JSON object on stdout. Bad input (missing file, malformed JSON, wrong
layout, files naming different tasks, id mismatch) exits with code 1 and one line on stderr naming the
file; a wrong command line exits 2 (:mod:`bump_pl.cli.failure`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bump_pl.cli.failure import OneLineParser, run_command
from bump_pl.data.tasks import canonical_task_name
from bump_pl.metrics.lamp import evaluate_lamp

_LAYOUT = '{"task": ..., "golds": [{"id": ..., "output": "..."}, ...]}'


def read_outputs(path: Path) -> tuple[str | None, dict[str, str]]:
    """The task name (``None`` if absent) and ``id -> output`` of a LaMP outputs file.

    Integer ids are read as their decimal string, so ``310`` and ``"310"`` name the same example.
    Raises ``ValueError("{path}: {problem}")`` for an unreadable file, bad JSON or a wrong layout.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ValueError(f"{path}: cannot read the file ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("golds"), list):
        raise ValueError(f"{path}: expected an object {_LAYOUT}")
    task = data.get("task")
    if task is not None and not isinstance(task, str):
        raise ValueError(f"{path}: \"task\" must be a string, got {task!r}")
    outputs: dict[str, str] = {}
    for n, row in enumerate(data["golds"]):
        ok_id = isinstance(row, dict) and isinstance(row.get("id"), (str, int)) and not isinstance(row["id"], bool)
        if not ok_id or not isinstance(row.get("output"), str):
            raise ValueError(f'{path}: golds[{n}] must be an object with a string or integer "id" and a string "output"')
        key = str(row["id"])
        if key in outputs:
            raise ValueError(f"{path}: id {key!r} appears more than once")
        outputs[key] = row["output"]
    return task, outputs


def _is_lamp(task: str) -> bool:
    """Whether ``task`` names one of LaMP's own tasks (``LaMP-3``, ``lamp_3``, ...)."""
    return canonical_task_name(task).startswith("LaMP_")


def _choose_task(cli_task: str | None, golds_task: str | None, preds_task: str | None, golds: Path, preds: Path) -> str:
    """``--task`` if given, else the golds file's task; the two files' tasks must agree when both name one.

    ``--task`` may choose the metric of a task LaMP does not know (score a ``MovieLens_rating`` file
    as ``LaMP_3``); a LaMP task in the files that disagrees with ``--task`` is refused, not overridden.
    """
    both = golds_task is not None and preds_task is not None
    if both and canonical_task_name(golds_task) != canonical_task_name(preds_task):
        raise ValueError(f"{preds}: task {preds_task!r} does not match {golds_task!r} in {golds}")
    if cli_task is not None and golds_task is not None and _is_lamp(golds_task):
        if canonical_task_name(cli_task) != canonical_task_name(golds_task):
            raise ValueError(f"{golds}: the file's task is {golds_task!r}, not --task {cli_task!r}; drop --task or pass the matching files")
    task = cli_task if cli_task is not None else golds_task
    if task is None:
        raise ValueError(f"{golds}: no \"task\" in the file; pass --task")
    return task


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bump-eval``; returns the exit code of :mod:`bump_pl.cli.failure` (0; 1 bad input; 2 usage)."""
    parser = OneLineParser(prog="bump-eval", description="Score LaMP predictions with LaMP's metrics.")
    parser.add_argument("--golds", type=Path, required=True, help="gold outputs file (LaMP layout)")
    parser.add_argument("--preds", type=Path, required=True, help="predictions file (same layout)")
    parser.add_argument(
        "--task", default=None, help="LaMP_1 … LaMP_7 or a generation task; overrides the files' (default: the golds')"
    )
    return run_command("bump-eval", lambda: _run(parser.parse_args(argv)))


def _run(args: argparse.Namespace) -> None:
    golds_task, golds = read_outputs(args.golds)
    preds_task, preds = read_outputs(args.preds)
    task = _choose_task(args.task, golds_task, preds_task, args.golds, args.preds)
    try:
        metrics = evaluate_lamp(task, preds, golds)
    except ValueError as err:
        raise ValueError(f"{args.preds} vs {args.golds}: {err}") from None
    print(json.dumps(metrics))


if __name__ == "__main__":
    sys.exit(main())
