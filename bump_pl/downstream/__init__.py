"""Downstream evaluation of profiles on LaMP questions: prompts, retrieval, model, run, report, CLI.

* ``run_downstream``: every variant (``no_profile``, ``recent_history``, ``retrieved_history``,
  ``profile``) answers the same questions (zero-shot, or a LoRA-SFT adapter per variant).
* ``summarize`` / ``write_report``: LaMP's official metrics, paired bootstrap intervals, report folder.
* :mod:`bump_pl.downstream.options`: for tasks with a label set (LaMP-1/2/3, MovieLens ratings),
  rank classification alongside the generated answers: the likeliest label option and, for
  ratings, the expected rating under the options' likelihoods, scored by the same metrics.
* ``bump-downstream`` (:mod:`bump_pl.cli.downstream`): a whole split after training, from a
  profiles file or a checkpoint. ``bump_pl.callbacks.DownstreamEvalCallback`` runs it during ``fit``.
"""

from bump_pl.downstream.prompts import BASELINES, VARIANTS, PromptBuilder
from bump_pl.downstream.report import summarize, write_report
from bump_pl.downstream.retrieval import rank_by_bm25
from bump_pl.downstream.run import DownstreamSettings, Questions, metric_task_of, run_downstream

__all__ = [
    "BASELINES",
    "VARIANTS",
    "DownstreamSettings",
    "PromptBuilder",
    "Questions",
    "metric_task_of",
    "rank_by_bm25",
    "run_downstream",
    "summarize",
    "write_report",
]
