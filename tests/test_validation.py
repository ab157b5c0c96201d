"""ValidationNDCG by hand: a judge that matches first letters ranks profiles and items exactly as set up."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor

from bump_pl.core.reward import RewardSettings
from bump_pl.models.tiny import tiny_tokenizer
from bump_pl.validation import ValidationNDCG, history_baselines


class FirstLetterJudge:
    """Scores 1 where query and candidate start with the same letter, else 0 (both directions)."""

    symmetric = False
    device = torch.device("cpu")

    def to(self, device: Any) -> FirstLetterJudge:
        return self

    def score(self, queries: list[str], candidates: list[str], direction: str) -> Tensor:
        return torch.tensor([[float(q[0] == c[0]) for c in candidates] for q in queries])


HELDOUT = [["a1", "a2"], ["b1", "b2"]]  # user 0 and user 1, K = 2


def test_right_profiles_score_one_and_swapped_ones_the_hand_computed_ndcg():
    ndcg = ValidationNDCG(RewardSettings(alpha=0.25, history_baselines=False))
    assert set(ndcg) == {"profile"}
    ndcg.score_batch(FirstLetterJudge(), {"profile": ["a likes", "b likes"]}, HELDOUT)
    assert {k: float(v) for k, v in ndcg.compute().items()} == {
        "ndcg": 1.0, "ndcg_profile_to_item": 1.0, "ndcg_item_to_profile": 1.0, "ranking_users": 2.0,
    }
    ndcg.reset()
    ndcg.score_batch(FirstLetterJudge(), {"profile": ["b likes", "a likes"]}, HELDOUT)  # each user got the other's
    out = ndcg.compute()
    # profile -> its 2 items at ranks 3 and 4 of 4; item -> its user's profile at rank 2 of 2
    p2i = (1 / math.log2(4) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    i2p = 1 / math.log2(3)
    assert float(out["ndcg_profile_to_item"]) == pytest.approx(p2i)
    assert float(out["ndcg_item_to_profile"]) == pytest.approx(i2p)
    assert float(out["ndcg"]) == pytest.approx(0.25 * p2i + 0.75 * i2p)


def test_history_baselines_are_scored_as_profiles():
    ndcg = ValidationNDCG(RewardSettings())
    assert set(ndcg) == {"profile", "history_budget", "history_full"}
    context = [["a old item", "a new item"], ["b old item", "b new item"]]
    texts = {"profile": ["b wrong", "a wrong"], **history_baselines(context, tiny_tokenizer(), 4)}
    assert texts["history_budget"] == ["item", "item"] and texts["history_full"][0] == "a old item\na new item"
    del texts["history_budget"]  # cut to 4 byte tokens, no first letter left to match
    ndcg.score_batch(FirstLetterJudge(), texts, HELDOUT)
    out = ndcg.compute()
    assert float(out["ndcg_history_full"]) == 1.0 and float(out["ndcg"]) < 1.0
    assert math.isnan(float(out["ndcg_history_budget"]))  # nothing scored: no data is not a score of 0
