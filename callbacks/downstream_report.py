"""The downstream report: ``report.json``, ``report.md`` (a Markdown table) and ``predictions.jsonl``.

All three are written into one folder that appears complete or not at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bump_pl.callbacks.atomic import atomic_dir, jsonl_text, write_text_atomic
from bump_pl.callbacks.downstream_prompts import VARIANTS

REPORT_JSON, REPORT_MD, RECORDS_JSONL = "report.json", "report.md", "predictions.jsonl"


def markdown_table(report: dict[str, Any]) -> str:
    """One row per variant, one column per metric (4 decimals), under a line of settings."""
    metrics = list(report[VARIANTS[0]])
    settings = report["settings"]
    lines = [
        f"Downstream {report['metric_task']} ({settings['mode']}, {settings['backbone']}) at step {report['step']},"
        f" {len(report['eval_ids'])} {report['eval_split']} questions\n",
        "| variant | " + " | ".join(metrics) + " |",
        "|---|" + "---|" * len(metrics),
    ]
    lines += [f"| {variant} | " + " | ".join(f"{report[variant][m]:.4f}" for m in metrics) + " |" for variant in VARIANTS]
    return "\n".join(lines) + "\n"


def write_report(folder: Path, report: dict[str, Any], records: list[dict[str, Any]]) -> Path:
    """Write the report folder atomically; returns the path of ``report.json``."""
    with atomic_dir(folder) as temp:
        write_text_atomic(temp / REPORT_JSON, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        write_text_atomic(temp / REPORT_MD, markdown_table(report))
        write_text_atomic(temp / RECORDS_JSONL, jsonl_text(records))
    return folder / REPORT_JSON
