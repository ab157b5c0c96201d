"""What one downstream evaluation returns: :class:`DownstreamResult` (and its :class:`RankClassification`).

Typed, so a caller sees every field ``run_downstream`` fills (``sft_loss`` is ``None`` in
``zero_shot``, ``rank_classification`` is ``None`` for tasks without a label set) and the report
reads them by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bump_pl.downstream.settings import DownstreamSettings


@dataclass
class RankClassification:
    """Answers read off the label options' likelihoods (:mod:`bump_pl.downstream.options`).

    Attributes:
        metric_task: the task whose label options were scored.
        options: those options, in the official order.
        predictions: ``{kind: {variant: [answer per question]}}`` (kinds of
            :func:`~bump_pl.downstream.options.rank_predictions`).
    """

    metric_task: str
    options: list[str]
    predictions: dict[str, dict[str, list[str]]] = field(default_factory=dict)


@dataclass
class DownstreamResult:
    """Every variant's answers to the same questions, and how they were obtained.

    Attributes:
        settings: as run (``settings.for_task(task)``: metric task and answer length resolved).
        metric_task: whose official metric scores the answers.
        eval_ids: question ids, in order.
        eval_users: the user of each question, in order (the bootstrap resamples users).
        answers: ``{variant: [answer per question]}``.
        records: per question and variant: variant, id, user, prompt, prediction, gold and, with
            rank classification, ``option_logprobs`` and ``prediction@<kind>``.
        sft_loss: ``sft`` only: ``{variant: [first step's loss, last step's loss]}``.
        rank_classification: for tasks with a label set.
    """

    settings: DownstreamSettings
    metric_task: str
    eval_ids: list[str]
    eval_users: list[str]
    answers: dict[str, list[str]] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    sft_loss: dict[str, list[float]] | None = None
    rank_classification: RankClassification | None = None
