"""``DownstreamEvalCallback``: what the cached profiles are worth on the LaMP task itself, during ``fit``.

Only decides when: each time ``ProfileCacheCallback`` writes a cache (it must come earlier in the
callbacks list), the evaluation of :mod:`bump_pl.downstream` runs on the data module's users of
``eval_split`` (the profile against ``no_profile``, ``recent_history`` and ``retrieved_history``,
LaMP's official metric, paired bootstrap intervals), writes
``<log_dir>/downstream/step-XXXXXX/{report.json, report.md, predictions.jsonl}`` and logs
``downstream/<variant>/<metric>`` to every logger. Rank 0 does the work; other ranks wait. A fit
resumed after a kill reports its restored step's cache first when that report is missing (the kill
came during caching or during this evaluation). To score every question of a split after
training, use the ``bump-downstream`` command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningModule, Trainer

from bump_pl.callbacks.profile_cache import ProfileCacheCallback
from bump_pl.runs.profile_store import load_profiles, step_dir
from bump_pl.callbacks.run_subfolder import RunSubfolderCallback
from bump_pl.downstream.prompts import VARIANTS
from bump_pl.downstream.report import REPORT_JSON, build_report, write_report
from bump_pl.downstream.run import Questions, run_downstream
from bump_pl.downstream.settings import DownstreamSettings


class DownstreamEvalCallback(RunSubfolderCallback):
    """Fit (``sft``) or prompt (``zero_shot``) a downstream model with each variant's context; score dev users.

    In a config::

        - class_path: bump_pl.callbacks.DownstreamEvalCallback
          init_args:
            eval_split: val
            settings: {backbone: smollm2-135m-instruct, mode: sft, max_answer_tokens: 4}

    Args:
        settings: the downstream model, its training and scoring (:class:`DownstreamSettings`, the
            same names and defaults as ``bump-downstream``'s options).
        train_split, eval_split: data-module splits to train on and to evaluate; both must be cached
            (``eval_split`` always, ``train_split`` in ``sft`` mode).
    """

    SUBFOLDER = "downstream"

    def __init__(
        self, settings: DownstreamSettings = DownstreamSettings(), train_split: str = "train", eval_split: str = "val"
    ) -> None:
        self.settings, self.train_split, self.eval_split = settings, train_split, eval_split
        self.evaluated_step: int | None = None
        self.last_report: Path | None = None

    # ----------------------------------------------------------------------------- hooks
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self._cache_callback(trainer)  # fail at once, not after training, when misconfigured

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._maybe_evaluate(trainer)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.ckpt_path:
            self._finish_interrupted(trainer)

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._maybe_evaluate(trainer)
        if trainer.ckpt_path:  # a fit resumed at its last step has no on_train_start
            self._finish_interrupted(trainer)

    # ----------------------------------------------------------------------------- work
    def _cache_callback(self, trainer: Trainer) -> ProfileCacheCallback:
        """The ``ProfileCacheCallback`` this callback follows (listed before it)."""
        callbacks = list(trainer.callbacks)
        caches = [cb for cb in callbacks if isinstance(cb, ProfileCacheCallback)]
        if len(caches) != 1 or callbacks.index(caches[0]) > callbacks.index(self):
            raise ValueError(
                "DownstreamEvalCallback needs exactly one ProfileCacheCallback listed before it in trainer.callbacks"
            )
        needed = [self.eval_split] + ([self.train_split] if self.settings.mode == "sft" else [])
        uncached = [split for split in needed if split not in caches[0].splits]
        if uncached:
            raise ValueError(
                f"DownstreamEvalCallback: splits {uncached} are not in ProfileCacheCallback.splits {caches[0].splits}"
            )
        return caches[0]

    def _maybe_evaluate(self, trainer: Trainer) -> None:
        latest = self._cache_callback(trainer).latest
        if latest is None or latest.step == self.evaluated_step:
            return
        self.evaluated_step = latest.step
        folder = step_dir(self.root, latest.step)
        if trainer.is_global_zero:
            self.last_report = self.evaluate(trainer, latest.path, latest.step, folder)
        trainer.strategy.barrier("downstream_eval")

    def _finish_interrupted(self, trainer: Trainer) -> None:
        """On a resumed fit, report this step's complete cache if its report is missing: the kill came
        while the cache was written (``ProfileCacheCallback`` has just completed it) or while evaluating."""
        step = trainer.global_step
        cache = step_dir(self._cache_callback(trainer).root, step)
        folder = step_dir(self.root, step)
        owed = trainer.strategy.broadcast(cache.is_dir() and not folder.is_dir() if trainer.is_global_zero else None)
        if not owed:
            return
        self.evaluated_step = step
        if trainer.is_global_zero:
            self.last_report = self.evaluate(trainer, cache, step, folder)
        trainer.strategy.barrier("downstream_eval")

    def evaluate(self, trainer: Trainer, cache: Path, step: int, folder: Path) -> Path:
        """Evaluate the cache at ``cache`` into the report folder ``folder`` (kept if already complete,
        e.g. after a resumed fit) and log its metrics; returns the path of ``report.json``."""
        if folder.is_dir():
            report = json.loads((folder / REPORT_JSON).read_text(encoding="utf-8"))
        else:
            report, records = self._run(trainer, cache, step)
            write_report(folder, report, records)
        # generated answers (``MAE``) and, for tasks with a label set, rank classification (``MAE@expected``)
        sections = [report["metrics"]]
        if "rank_classification" in report:
            sections.append(report["rank_classification"]["metrics"])
        metrics = {
            f"downstream/{variant}/{name}": interval["value"]
            for section in sections
            for variant in VARIANTS
            for name, interval in section[variant].items()
        }
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
        return folder / REPORT_JSON

    def _run(self, trainer: Trainer, cache: Path, step: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """``(report, per-question records)`` of one evaluation."""
        datamodule, settings = trainer.datamodule, self.settings
        evaluation = Questions.of(datamodule.users[self.eval_split], self.eval_split, settings.max_eval_examples)
        train = None
        if settings.mode == "sft":
            train = Questions.of(datamodule.users[self.train_split], self.train_split, settings.max_train_examples)
        device = trainer.strategy.root_device
        result = run_downstream(settings, datamodule.task, load_profiles(cache), train, evaluation, device)
        report = build_report(result, datamodule.task.name, evaluation, train, step=step, profile_cache=str(cache.resolve()))
        return report, result.records
