"""experiments/ladder.py: per-user NDCG that averages to validation's, hand-computed on a toy group,
paired differences, the whole script on a tiny run, and its one-line error."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import Tensor

from bump_pl.core.reward import RewardSettings
from bump_pl.data import ItemTemplate
from bump_pl.judges import EmbeddingJudge
from bump_pl.validation import ValidationNDCG

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "experiments"))  # the scripts import plots.py as a sibling script does
_spec = importlib.util.spec_from_file_location("experiments_ladder", REPO / "experiments" / "ladder.py")
ladder = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ladder)


class MatrixJudge:
    """Returns fixed score matrices: ``profile_to_item`` ``[U, U*K]``, ``item_to_profile`` ``[U*K, U]``."""

    symmetric = False
    device = torch.device("cpu")

    def __init__(self, **scores: Tensor) -> None:
        self.scores = scores

    def to(self, device: Any) -> MatrixJudge:
        return self

    def score(self, queries: list[str], candidates: list[str], direction: str) -> Tensor:
        return self.scores[direction]


class FirstLetterJudge(MatrixJudge):
    """1 where query and candidate start with the same letter, else 0: many ties."""

    def __init__(self) -> None:
        super().__init__()

    def score(self, queries: list[str], candidates: list[str], direction: str) -> Tensor:
        return torch.tensor([[float(q[0] == c[0]) for c in candidates] for q in queries])


def test_per_user_scores_average_to_validation_ndcg() -> None:
    """Two groups of 3 users (K = 2): the per-user means are ``ValidationNDCG.compute()`` (torchmetrics state)."""
    groups = [
        (["a likes x", "b likes y", "a or c"], [["a1", "c2"], ["b1", "b2"], ["c1", "a2"]]),
        (["d things", "f stuff", "e more"], [["d1", "e9"], ["e1", "e2"], ["f1", "d2"]]),
    ]
    settings = RewardSettings(alpha=0.3, history_baselines=False)
    encoder = EmbeddingJudge("tiny-random-encoder", pooling="mean", max_length=32)
    for judge in (FirstLetterJudge(), encoder):
        validation = ValidationNDCG(settings)
        per_user: dict[str, list[float]] = {name: [] for name in ladder.METRICS}
        for texts, heldout in groups:
            validation.score_batch(judge, {"profile": texts}, heldout)
            for name, values in ladder.user_scores(judge, texts, heldout, settings).items():
                assert values.shape == (3,)
                per_user[name] += values.tolist()
        expected = validation.compute()
        assert np.mean(per_user["profile_to_item"]) == pytest.approx(float(expected["ndcg_profile_to_item"]), abs=1e-6)
        assert np.mean(per_user["item_to_profile"]) == pytest.approx(float(expected["ndcg_item_to_profile"]), abs=1e-6)
        assert np.mean(per_user["ndcg"]) == pytest.approx(float(expected["ndcg"]), abs=1e-6)
    assert len(set(per_user["ndcg"])) > 1  # the encoder's scores tell users apart: not a constant


def test_per_user_ndcg_by_hand_on_two_users() -> None:
    d = lambda position: 1 / math.log2(position + 1)  # noqa: E731
    judge = MatrixJudge(
        # user 0's items are columns 0, 1; user 1's columns 2, 3
        profile_to_item=torch.tensor([[0.9, 0.1, 0.5, 0.2], [0.3, 0.4, 0.8, 0.7]]),
        item_to_profile=torch.tensor([[0.2, 0.6], [0.9, 0.1], [0.5, 0.5], [0.7, 0.3]]),
    )
    out = ladder.user_scores(judge, ["p0", "p1"], [["a1", "a2"], ["b1", "b2"]], RewardSettings(alpha=0.25))
    # user 0: its items at positions 1 and 4 of 4; user 1: at 1 and 2
    p2i = [(d(1) + d(4)) / (d(1) + d(2)), 1.0]
    # item a1: own profile 2nd; a2: 1st; b1: tied with the other (mean of positions 1, 2); b2: 2nd
    i2p = [(d(2) + d(1)) / 2, ((d(1) + d(2)) / 2 + d(2)) / 2]
    assert out["profile_to_item"].tolist() == pytest.approx(p2i)
    assert out["item_to_profile"].tolist() == pytest.approx(i2p)
    assert out["ndcg"].tolist() == pytest.approx([0.25 * p + 0.75 * i for p, i in zip(p2i, i2p)])


def test_paired_difference_of_a_source_with_itself_is_exactly_zero() -> None:
    rng = np.random.default_rng(1)
    scores = {name: rng.random(7) for name in ladder.METRICS}
    other = {name: rng.random(7) for name in ladder.METRICS}
    means, differences = ladder.paired_bootstrap({"a": scores, "b": scores, "c": other}, "a", samples=200, seed=3)
    assert set(differences) == {"a - b", "a - c"}
    for name in ladder.METRICS:
        assert differences["a - b"][name] == {"value": 0.0, "low": 0.0, "high": 0.0}
        assert means["a"][name]["value"] == pytest.approx(scores[name].mean())
        assert means["a"][name]["low"] <= means["a"][name]["value"] <= means["a"][name]["high"]
        assert differences["a - c"][name]["value"] == pytest.approx(scores[name].mean() - other[name].mean())
        assert differences["a - c"][name]["low"] < differences["a - c"][name]["high"]


def test_the_recorded_writing_tells_apart_templates_whose_words_differ() -> None:
    liked = ItemTemplate("The user {score} {title}.", {"score": {"1": "hated", "5": "loved"}})
    starred = ItemTemplate("The user {score} {title}.", {"score": {"1": "gave one star to", "5": "gave five stars to"}})
    assert ladder.heldout_writing(None) == ladder.PLAIN_HELDOUT
    assert ladder.heldout_writing(ItemTemplate("{score} {title}")) == "template '{score} {title}'"
    assert ladder.heldout_writing(liked) == (
        "template 'The user {score} {title}.' with value_words {\"score\": {\"1\": \"hated\", \"5\": \"loved\"}}")
    assert ladder.heldout_writing(liked) != ladder.heldout_writing(starred)
    # the same words in another order are the same writing
    reordered = ItemTemplate("The user {score} {title}.", {"score": {"5": "loved", "1": "hated"}})
    assert ladder.heldout_writing(reordered) == ladder.heldout_writing(liked)


def scalars(run_dir: Path) -> dict[str, list[float]]:
    """``{tag: [value by step]}`` of a run folder's TensorBoard scalars."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0}).Reload()
    return {tag: [e.value for e in sorted(events.Scalars(tag), key=lambda e: e.step)] for tag in events.Tags()["scalars"]}


def _env(cache: Path) -> dict[str, str]:
    offline = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return {**os.environ, **offline, "BUMP_PL_CACHE": str(cache)}


@pytest.mark.slow
def test_the_script_on_a_tiny_run_writes_the_ladder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({
        "trainer": {"max_steps": 1, "val_check_interval": 1, "callbacks": [
            {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"save_last": True}}]},
        "model": {"sampling": {"max_new_tokens": 4}},
        # the judge reads held-out ratings as words: the ladder must rebuild that from the run's config
        "data": {"users_per_batch": 4, "heldout_template": {
            "template": "{score} stars: {text}", "value_words": {"score": dict(zip("12345", ("no", "two", "ok", "good", "top")))}}},
    }))
    fit = subprocess.run([sys.executable, "-m", "bump_pl.cli", "fit", "--config", str(REPO / "configs" / "tiny.yaml"),
                          "--config", str(overlay)], cwd=tmp_path, env=_env(tmp_path / "cache"), capture_output=True,
                         text=True, timeout=600)
    assert fit.returncode == 0, fit.stderr
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "ladder"
    assert ladder.main(["runs/tiny/version_0", "--out", str(out), "--samples", "100"]) == 0
    rows = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    report = json.loads((out / "ladder.json").read_text())
    assert (out / "ladder.md").read_text().startswith("# Judge-level ladder")
    assert (out / "ladder.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the plot beside the table
    # the 6 synthetic dev users in groups of 4: one group, the last 2 users dropped
    assert len(rows) == 4 * len(ladder.SOURCES) and {row["group"] for row in rows} == {0}
    assert report["settings"]["users"].startswith(
        "4 of 6 validation users scored, 1 group of 4; the last partial group (2 users) dropped"
    )
    assert list(report["sources"]) == list(ladder.SOURCES)
    values = ladder.per_source(rows)
    assert any(values["trained_profile"]["ndcg"] != values["history_full"]["ndcg"])
    for name in ladder.METRICS:
        trained, untrained = (report["sources"][s][name]["value"] for s in ("trained_profile", "untrained_profile"))
        assert trained == pytest.approx(values["trained_profile"][name].mean())
        difference = report["differences"]["trained_profile - untrained_profile"][name]
        assert difference["value"] == pytest.approx(trained - untrained)
        assert difference["low"] <= difference["value"] <= difference["high"]
    # the run validated the same groups before (untrained) and after its step: the same means
    logged = scalars(tmp_path / "runs/tiny/version_0")
    for source, tag, at in (
        ("untrained_profile", "val/ndcg", 0), ("trained_profile", "val/ndcg", -1),
        ("history_budget", "val/ndcg_history_budget", -1), ("history_full", "val/ndcg_history_full", -1),
    ):
        for name, suffix in (("ndcg", ""), ("profile_to_item", "_profile_to_item"), ("item_to_profile", "_item_to_profile")):
            assert report["sources"][source][name]["value"] == pytest.approx(logged[tag + suffix][at], abs=1e-5)
    # --users_per_batch regroups the same users (runs trained with different U, scored on equal groups)
    assert ladder.main(["runs/tiny/version_0", "--out", str(tmp_path / "pairs"), "--samples", "10", "--users_per_batch", "2"]) == 0
    pairs = [json.loads(line) for line in (tmp_path / "pairs" / "scores.jsonl").read_text().splitlines()]
    assert len(pairs) == 6 * len(ladder.SOURCES) and {row["group"] for row in pairs} == {0, 1, 2}
    # --heldout_template none: the same texts scored against the held-out items as the prompt renders them
    assert report["settings"]["heldout"] == ("template '{score} stars: {text}' with value_words"
                                             ' {"score": {"1": "no", "2": "two", "3": "ok", "4": "good", "5": "top"}}')
    assert ladder.main(["runs/tiny/version_0", "--out", str(tmp_path / "plain"), "--samples", "10",
                        "--heldout_template", "none"]) == 0
    plain = [json.loads(line) for line in (tmp_path / "plain" / "scores.jsonl").read_text().splitlines()]
    assert json.loads((tmp_path / "plain" / "ladder.json").read_text())["settings"]["heldout"] == ladder.PLAIN_HELDOUT
    assert [(row["user_id"], row["text"]) for row in plain] == [(row["user_id"], row["text"]) for row in rows]
    assert [row["profile_to_item"] for row in plain] != [row["profile_to_item"] for row in rows]
    # --negatives local: on one process the same ranking as the run's global, recorded as local
    assert report["settings"]["reward"].endswith("negatives global")
    assert ladder.main(["runs/tiny/version_0", "--out", str(tmp_path / "local"), "--samples", "10", "--negatives", "local"]) == 0
    local = [json.loads(line) for line in (tmp_path / "local" / "scores.jsonl").read_text().splitlines()]
    assert json.loads((tmp_path / "local" / "ladder.json").read_text())["settings"]["reward"].endswith("negatives local")
    assert [(row["user_id"], row["ndcg"]) for row in local] == [(row["user_id"], row["ndcg"]) for row in rows]
    # --judge: the same texts scored by another config's judge (runs trained against different judges, one yardstick)
    other = tmp_path / "likelihood.yaml"
    other.write_text(yaml.safe_dump({"model": {"judge": {
        "class_path": "bump_pl.judges.LikelihoodJudge", "init_args": {"model": "tiny-random-llama", "max_length": 64}}}}))
    assert ladder.main(["runs/tiny/version_0", "--out", str(tmp_path / "judged"), "--samples", "10", "--judge", str(other)]) == 0
    judged = [json.loads(line) for line in (tmp_path / "judged" / "scores.jsonl").read_text().splitlines()]
    assert json.loads((tmp_path / "judged" / "ladder.json").read_text())["settings"]["judge"] == (
        "bump_pl.judges.LikelihoodJudge(model=tiny-random-llama)")
    assert [(row["user_id"], row["text"]) for row in judged] == [(row["user_id"], row["text"]) for row in rows]
    assert [row["profile_to_item"] for row in judged] != [row["profile_to_item"] for row in rows]


def test_a_missing_checkpoint_is_one_line_and_leaves_no_out_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "version_0"
    run.mkdir()
    (run / "config.yaml").write_text("model:\n  model: tiny-random-llama\ndata:\n  users_per_batch: 3\n")
    out = tmp_path / "ladder"
    assert ladder.main([str(run), "--out", str(out)]) == 1
    error = capsys.readouterr().err
    assert error == f"ladder.py: error: {run / 'checkpoints' / 'last.ckpt'}: missing (no such file)\n"
    assert not out.exists()
    assert ladder.main([str(tmp_path / "nowhere"), "--out", str(out)]) == 1
    assert capsys.readouterr().err == f"ladder.py: error: {tmp_path / 'nowhere'}: no such run folder\n"
    assert not out.exists()
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("data:\n  heldout_template:\n    template: '{score!r}'\n")
    assert ladder.main([str(run), "--out", str(out), "--heldout_template", str(overlay)]) == 1
    assert capsys.readouterr().err.startswith(f"ladder.py: error: {overlay}: heldout_template '{{score!r}}': ")
    assert not out.exists()
    assert ladder.main([str(run), "--out", str(out), "--judge", str(overlay)]) == 1
    assert capsys.readouterr().err == f"ladder.py: error: {overlay}: no model.judge mapping with a class_path\n"
    assert not out.exists()
