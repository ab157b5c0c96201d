"""DownstreamEvalCallback wiring: it follows one earlier ProfileCacheCallback, runs once per new cache, keeps reports."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bump_pl.callbacks import DownstreamEvalCallback, ProfileCacheCallback
from bump_pl.downstream.settings import DownstreamSettings
from bump_pl.runs.profile_store import partial_dir
from callback_fakes import FakeGenerator, fake_trainer, make_datamodule, set_up

TINY = DownstreamSettings(backbone="tiny-random-llama", mode="zero_shot", max_answer_tokens=2, context_tokens=16)


def test_misconfiguration_fails_at_setup() -> None:
    downstream = DownstreamEvalCallback(replace(TINY, mode="sft"))
    trainer = fake_trainer(Path("."), None, 0)
    for callbacks, message in (
        ([downstream], "exactly one ProfileCacheCallback listed before it"),
        ([downstream, ProfileCacheCallback()], "exactly one ProfileCacheCallback listed before it"),
        ([ProfileCacheCallback(splits=["val"]), downstream], r"splits \['train'\] are not in ProfileCacheCallback.splits"),
    ):
        trainer.callbacks = callbacks
        with pytest.raises(ValueError, match=message):
            downstream.setup(trainer, None, "fit")


class _Logger:
    def __init__(self) -> None:
        self.logged: list[tuple[dict[str, float], int]] = []

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.logged.append((metrics, step))


def test_runs_once_per_new_cache_and_keeps_a_complete_report(lamp3_dir: Path, tmp_path: Path) -> None:
    datamodule, logger = make_datamodule(lamp3_dir), _Logger()
    cache = ProfileCacheCallback(splits=["val"])
    downstream = DownstreamEvalCallback(TINY)
    trainer = set_up(fake_trainer(tmp_path, datamodule, 3, [logger]), cache, downstream)

    downstream.on_validation_end(trainer, None)  # no cache yet: nothing to do
    assert downstream.last_report is None and logger.logged == []
    cache.on_validation_end(trainer, FakeGenerator())
    downstream.on_validation_end(trainer, None)
    downstream.on_fit_end(trainer, None)  # same cache: not evaluated twice
    report_path = tmp_path / "downstream" / "step-000003" / "report.json"
    assert downstream.last_report == report_path and len(logger.logged) == 1
    metrics, step = logger.logged[0]
    report = json.loads(report_path.read_text())
    variants = ("no_profile", "recent_history", "retrieved_history", "profile")
    assert step == 3 and metrics == {
        **{f"downstream/{v}/{m}": report["metrics"][v][m]["value"] for v in variants for m in ("MAE", "RMSE")},
        **{
            f"downstream/{v}/{m}@{kind}": report["rank_classification"]["metrics"][v][f"{m}@{kind}"]["value"]
            for v in variants for m in ("MAE", "RMSE") for kind in ("argmax", "expected")
        },
    }
    assert report["num_questions"] == {v: len(report["eval_ids"]) for v in variants}

    report["metrics"]["profile"]["MAE"]["value"] = 9.0
    report_path.write_text(json.dumps(report))
    again = DownstreamEvalCallback(TINY)  # e.g. a resumed fit
    set_up(trainer, cache, again)
    again.on_fit_end(trainer, None)
    assert logger.logged[-1][0]["downstream/profile/MAE"] == 9.0  # the complete report was kept, not recomputed


def test_a_resumed_fit_reports_the_restored_steps_cache_once(lamp3_dir: Path, tmp_path: Path) -> None:
    datamodule, logger = make_datamodule(lamp3_dir), _Logger()
    cache = ProfileCacheCallback(splits=["val"])
    downstream = DownstreamEvalCallback(TINY)
    trainer = set_up(fake_trainer(tmp_path, datamodule, 2, [logger]), cache, downstream)
    trainer.ckpt_path = "last.ckpt"
    partial_dir(cache.root, 2).mkdir(parents=True)  # the run was killed while caching step 2

    cache.on_train_start(trainer, FakeGenerator())  # completes step 2's cache
    downstream.on_train_start(trainer, None)
    report = tmp_path / "downstream" / "step-000002" / "report.json"
    assert report.is_file() and downstream.last_report == report
    assert [step for _, step in logger.logged] == [2]
    downstream.on_validation_end(trainer, None)
    downstream.on_fit_end(trainer, None)
    assert len(logger.logged) == 1  # the same cache is not evaluated twice

    shutil.rmtree(report.parent)  # killed during the evaluation instead: the cache is complete, the report is not
    again = DownstreamEvalCallback(TINY)
    set_up(trainer, ProfileCacheCallback(splits=["val"]), again)
    again.on_train_start(trainer, None)
    assert report.is_file() and [step for _, step in logger.logged] == [2, 2]
    fresh = DownstreamEvalCallback(TINY)
    set_up(trainer, ProfileCacheCallback(splits=["val"]), fresh)
    fresh.on_train_start(trainer, None)
    fresh.on_fit_end(trainer, None)
    assert len(logger.logged) == 2 and fresh.last_report is None  # a complete report is owed nothing
