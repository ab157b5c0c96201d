"""Downstream evaluation of profiles on LaMP questions: settings, prompts, retrieval, model, run, report.

* ``DownstreamSettings`` (:mod:`bump_pl.downstream.settings`): every setting of the downstream
  model, declared once for ``DownstreamEvalCallback(settings=...)`` and ``bump-downstream``.
* ``run_downstream``: every variant (``no_profile``, ``recent_history``, ``retrieved_history``,
  ``profile``; on request the control ``other_user_profile``, another user's profile by a fixed
  derangement, and ``untrained_profile`` when the untrained generator's profiles are given) answers
  the same questions (zero-shot, or a LoRA-SFT adapter per variant); returns a ``DownstreamResult``.
* ``ask_last`` (:mod:`bump_pl.downstream.held_out`): a user asked about their last N interactions,
  every context built from the history before them.
* ``build_report`` / ``summarize`` / ``write_report``: LaMP's official metrics, paired bootstrap
  intervals over users (each with all their questions), report folder.
* :mod:`bump_pl.downstream.options`: for tasks with a label set (LaMP-1/2/3, MovieLens ratings),
  rank classification alongside the generated answers: the likeliest label option and, for
  ratings, the expected rating under the options' likelihoods, scored by the same metrics.
* ``bump-downstream`` (:mod:`bump_pl.cli.downstream`): a whole split after training, from a
  profiles file or a checkpoint. ``bump_pl.callbacks.DownstreamEvalCallback`` runs it during ``fit``.

Exports load lazily: importing the settings (``bump-downstream --help``) loads none of the evaluation.
"""

from bump_pl._lazy import lazy_exports

_EXPORTS = {
    "BASELINES": "prompts",
    "OTHER_USER_PROFILE": "prompts",
    "UNTRAINED_PROFILE": "prompts",
    "VARIANTS": "prompts",
    "PromptBuilder": "prompts",
    "baselines_of": "prompts",
    "build_report": "report",
    "summarize": "report",
    "write_report": "report",
    "rank_by_bm25": "retrieval",
    "DownstreamResult": "result",
    "ask_last": "held_out",
    "derangement": "other_user",
    "Questions": "run",
    "metric_task_of": "settings",
    "run_downstream": "run",
    "DownstreamSettings": "settings",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
