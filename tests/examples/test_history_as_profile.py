"""``examples/history_as_profile.py`` runs on BUMP's public pieces alone, and its two routes agree.

The reward (``bidirectional_reward`` with G = 1) and the torchmetrics ``MultiPositiveNDCG`` compute
the same per-query NDCG from the same scores by different code, so their means must match; the
oracle profile (a user's own held-out item, K = 1) is ranked first by any judge whose embedding of a
text is the same text's embedding, so both directions are exactly 1.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from bump_pl.judges import EmbeddingJudge
from bump_pl.models.tiny import tiny_random_encoder, tiny_tokenizer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "history_as_profile.py"


def _example():
    spec = importlib.util.spec_from_file_location("history_as_profile", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def judge() -> EmbeddingJudge:
    return EmbeddingJudge(model=tiny_random_encoder(seed=4), tokenizer=tiny_tokenizer(), max_length=64)


def test_history_profiles_metric_equals_reward_mean(judge: EmbeddingJudge, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path))
    args = ["--synthetic-users", "40", "--tokenizer", "tiny-random-llama", "--users-per-batch", "4", "--batches", "2"]
    result = _example().main(args, judge=judge)
    for direction in ("profile_to_item", "item_to_profile"):
        assert 0.0 < result[direction]["metric"] < 1.0
        assert result[direction]["metric"] == pytest.approx(result[direction]["reward"], abs=1e-6)


def test_oracle_profiles_rank_first_in_both_directions(judge: EmbeddingJudge, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path))
    args = ["--synthetic-users", "40", "--tokenizer", "tiny-random-llama", "--users-per-batch", "4",
            "--heldout-per-user", "1", "--batches", "2", "--profile", "oracle"]
    with torch.inference_mode():
        result = _example().main(args, judge=judge)
    for direction in ("profile_to_item", "item_to_profile"):
        assert result[direction]["metric"] == pytest.approx(1.0)
        assert result[direction]["reward"] == pytest.approx(1.0)
