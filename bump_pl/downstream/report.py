"""The downstream report: ``report.json``, ``report.md`` (Markdown tables) and ``predictions.jsonl``.

``build_report`` makes the report of one :func:`bump_pl.downstream.run.run_downstream` result, for
``DownstreamEvalCallback`` and ``bump-downstream`` alike: ``summarize``'s metric part (per variant
the number of questions scored and each metric with its 95% paired bootstrap interval, and
``profile - baseline`` for each baseline), then what was scored and how. The variants are those the
run scored: the four fixed ones, and ``other_user_profile`` and ``untrained_profile`` (then also
baselines) when they were asked for. Intervals resample users, with all their questions
(:mod:`bump_pl.downstream.bootstrap`).
For tasks with a label set the same is done, in ``"rank_classification"``, for the answers read off
the label options' likelihoods (:mod:`bump_pl.downstream.options`), each metric named
``<metric>@<kind>`` (e.g. ``MAE@expected``, ``accuracy@argmax``); the official metric scores them as
it scores generated answers, on the same bootstrap resamples. All three files are written into one folder that appears
complete or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bump_pl.atomic_files import atomic_dir, jsonl_text, write_text_atomic
from bump_pl.data.tasks import canonical_task_name
from bump_pl.downstream.bootstrap import Interval, bootstrap_report
from bump_pl.downstream.options import RANK_KINDS
from bump_pl.downstream.prompts import baselines_of
from bump_pl.markdown_table import markdown_table

if TYPE_CHECKING:
    from bump_pl.downstream.result import DownstreamResult, RankClassification
    from bump_pl.downstream.run import Questions

REPORT_JSON, REPORT_MD, RECORDS_JSONL = "report.json", "report.md", "predictions.jsonl"


def build_report(
    result: DownstreamResult, task: str, evaluation: Questions, train: Questions | None, **source: Any
) -> dict[str, Any]:
    """The report (``report.json``) of ``result``, which ``run_downstream`` returned for ``evaluation``
    (and ``train`` in ``sft`` mode) of ``task``: :func:`summarize`'s metrics and intervals (the
    settings' ``bootstrap_samples`` resamples, seeded by their ``seed``), the task and its
    ``metric_task``, the splits, their question and user counts, ``eval_ids``, ``sft_loss``, ``source``
    (where the profiles came from: ``step`` and ``profile_cache`` during fit; ``data_dir`` and
    ``profiles_source`` for ``bump-downstream``) and the settings as run."""
    settings, metric_task = result.settings, result.metric_task
    summary = summarize(result, metric_task, evaluation.answers, samples=settings.bootstrap_samples, seed=settings.seed)
    return {
        **summary,
        "task": task,
        "metric_task": metric_task,
        "eval_split": evaluation.split,
        "train_split": train.split if train is not None else None,
        "num_eval_examples": len(evaluation.pairs),
        "num_train_examples": len(train.pairs) if train is not None else 0,
        "num_eval_users": len(set(result.eval_users)),
        "eval_ids": result.eval_ids,
        "sft_loss": result.sft_loss,
        **source,
        "settings": asdict(settings),
    }


def summarize(
    result: DownstreamResult, metric_task: str, golds: list[str], *, samples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, Any]:
    """``{"num_questions", "metrics", "differences", "bootstrap"}`` of one run's ``answers`` (all in ``golds`` order),
    plus ``"rank_classification"`` (``{"options", "kinds", "metrics", "differences"}``) when the run scored label options.
    The bootstrap resamples the users of ``result.eval_users``."""
    answers, users = result.answers, result.eval_users
    boot = {"samples": samples, "seed": seed, "level": level}
    metrics, differences = bootstrap_report(metric_task, answers, golds, baselines_of(answers), users, **boot)
    summary = {
        "num_questions": {variant: len(rows) for variant, rows in answers.items()},
        "metrics": metrics,
        "differences": differences,
        "bootstrap": {**boot, "paired_over": "users"},
    }
    if result.rank_classification is not None:
        summary["rank_classification"] = _rank_summary(result.rank_classification, metric_task, golds, users, **boot)
    return summary


def _rank_summary(
    rank: RankClassification, metric_task: str, golds: list[str], users: list[str], *, samples: int, seed: int, level: float
) -> dict[str, Any]:
    """Metrics and differences of each kind of rank-classification answers, named ``<metric>@<kind>``."""
    if rank.metric_task != canonical_task_name(metric_task):
        raise ValueError(
            f"rank classification scored the label options of {rank.metric_task} but answers are scored as"
            f" {metric_task}; pass metric_task to run_downstream"
        )
    metrics: dict[str, dict[str, Interval]] = {}
    differences: dict[str, dict[str, Interval]] = {}
    for kind, answers in rank.predictions.items():
        by_variant, by_difference = bootstrap_report(
            metric_task, answers, golds, baselines_of(answers), users, samples=samples, seed=seed, level=level
        )
        for variant, intervals in by_variant.items():
            metrics.setdefault(variant, {}).update({f"{name}@{kind}": interval for name, interval in intervals.items()})
        for label, intervals in by_difference.items():
            differences.setdefault(label, {}).update({f"{name}@{kind}": interval for name, interval in intervals.items()})
    return {"options": rank.options, "kinds": list(rank.predictions), "metrics": metrics, "differences": differences}


def _cell(interval: dict[str, float]) -> str:
    return f"{interval['value']:.4f} [{interval['low']:.4f}, {interval['high']:.4f}]"


def _tables(
    metrics: dict[str, dict[str, Interval]], differences: dict[str, dict[str, Interval]], questions: dict[str, int]
) -> str:
    """The variants table (questions scored, each metric with its interval), then the differences table."""
    names = list(next(iter(metrics.values())))
    variants = markdown_table(
        ["variant", "questions", *names],
        ([variant, questions[variant], *(_cell(values[n]) for n in names)] for variant, values in metrics.items()),
    )
    differences_table = markdown_table(
        ["difference", *names], ([label, *(_cell(values[n]) for n in names)] for label, values in differences.items())
    )
    return f"{variants}\n\n{differences_table}"


def markdown_report(report: dict[str, Any]) -> str:
    """Generated answers: variants, then the profile's differences; then the same for rank classification, if any."""
    settings, boot = report["settings"], report["bootstrap"]
    title = (
        f"Downstream {report['metric_task']} ({settings['mode']}, {settings['backbone']}) on the"
        f" {report['eval_split']} split{' at step ' + str(report['step']) if report.get('step') is not None else ''};"
        f" {report['num_eval_examples']} questions of {report['num_eval_users']} users; value [{boot['level']:.0%} paired"
        f" bootstrap interval, {boot['samples']} resamples of the users, each with all their questions]"
    )
    text = f"{title}\n\n{_tables(report['metrics'], report['differences'], report['num_questions'])}\n"
    rank = report.get("rank_classification")
    if rank is not None:
        kinds = "; ".join(f"`@{kind}`: {RANK_KINDS[kind]}" for kind in rank["kinds"])
        heading = (
            f"Rank classification by the likelihood of the {len(rank['options'])} label options ({kinds});"
            " same questions and bootstrap resamples"
        )
        text += f"\n{heading}\n\n{_tables(rank['metrics'], rank['differences'], report['num_questions'])}\n"
    return text


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
