"""The downstream report: ``report.json``, ``report.md`` (Markdown tables) and ``predictions.jsonl``.

``summarize`` turns one :func:`bump_pl.downstream.run.run_downstream` result into the report's
metric part: per variant the number of questions scored and each metric with its 95% paired
bootstrap interval, and ``profile - baseline`` for each baseline. All three files are written into
one folder that appears complete or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bump_pl.downstream.bootstrap import bootstrap_report
from bump_pl.downstream.prompts import BASELINES, VARIANTS
from bump_pl.utils import atomic_dir, jsonl_text, markdown_table, write_text_atomic

REPORT_JSON, REPORT_MD, RECORDS_JSONL = "report.json", "report.md", "predictions.jsonl"


def summarize(
    results: dict[str, Any], metric_task: str, golds: list[str], *, samples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, Any]:
    """``{"num_questions", "metrics", "differences", "bootstrap"}`` of one run's ``answers`` (all in ``golds`` order)."""
    answers = results["answers"]
    metrics, differences = bootstrap_report(metric_task, answers, golds, BASELINES, samples=samples, seed=seed, level=level)
    return {
        "num_questions": {variant: len(answers[variant]) for variant in VARIANTS},
        "metrics": metrics,
        "differences": differences,
        "bootstrap": {"samples": samples, "seed": seed, "level": level, "paired_over": "questions"},
    }


def _cell(interval: dict[str, float]) -> str:
    return f"{interval['value']:.4f} [{interval['low']:.4f}, {interval['high']:.4f}]"


def markdown_report(report: dict[str, Any]) -> str:
    """Variants (questions scored, each metric with its interval), then the profile's differences."""
    names = list(report["metrics"][VARIANTS[0]])
    settings, boot = report["settings"], report["bootstrap"]
    title = (
        f"Downstream {report['metric_task']} ({settings['mode']}, {settings['backbone']}) on the"
        f" {report['eval_split']} split{' at step ' + str(report['step']) if report.get('step') is not None else ''};"
        f" value [{boot['level']:.0%} paired bootstrap interval, {boot['samples']} resamples of questions]"
    )
    variants = markdown_table(
        ["variant", "questions", *names],
        ([variant, report["num_questions"][variant], *(_cell(report["metrics"][variant][n]) for n in names)] for variant in VARIANTS),
    )
    differences = markdown_table(
        ["difference", *names], ([label, *(_cell(values[n]) for n in names)] for label, values in report["differences"].items())
    )
    return f"{title}\n\n{variants}\n\n{differences}\n"


def write_report(
    folder: Path, report: dict[str, Any], records: list[dict[str, Any]], extra: Mapping[str, str] | None = None
) -> Path:
    """Write the report folder (and ``extra`` files: ``{name: text}``) atomically; returns the path of ``report.json``."""
    with atomic_dir(folder) as temp:
        write_text_atomic(temp / REPORT_JSON, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        write_text_atomic(temp / REPORT_MD, markdown_report(report))
        write_text_atomic(temp / RECORDS_JSONL, jsonl_text(records))
        for name, text in (extra or {}).items():
            write_text_atomic(temp / name, text)
    return folder / REPORT_JSON
