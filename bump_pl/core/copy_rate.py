"""How much of a profile is copied from the user's history: the share of its word 8-grams found verbatim.

A judge that matches profiles to held-out items rewards a profile that quotes one characteristic
history item; ``copy_rate`` measures that (``train/copy_rate``), and ``copy_penalty`` can subtract
it from the reward. Words are lower-cased ``\\w+`` runs, so case and punctuation do not hide a copy.
An n-gram counts as copied if it occurs inside one context item (n-grams across two items are not
in the history as written). A profile shorter than ``n`` words has no n-grams and a rate of 0.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

NGRAM = 8


def words(text: str) -> list[str]:
    """Lower-cased ``\\w+`` runs of ``text``."""
    return re.findall(r"\w+", text.lower())


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    """Every run of ``n`` consecutive tokens, in order (duplicates kept)."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def copy_rate(profile: str, context: list[str], n: int = NGRAM) -> float:
    """Fraction of ``profile``'s word ``n``-grams (with repeats) that occur in one of the ``context`` items."""
    if n < 1:
        raise ValueError(f"copy_rate: n must be >= 1, got {n}")
    grams = ngrams(words(profile), n)
    if not grams:
        return 0.0
    seen = {gram for item in context for gram in ngrams(words(item), n)}
    return sum(gram in seen for gram in grams) / len(grams)


def copy_rates(profiles: list[str], contexts: list[list[str]], group_size: int, n: int = NGRAM) -> Tensor:
    """``[U*G]`` float32 :func:`copy_rate` of rollout ``r = u*G + g`` against user ``u``'s context."""
    if len(profiles) != len(contexts) * group_size:
        raise ValueError(f"copy_rates: {len(profiles)} profiles for {len(contexts)} users x group_size {group_size}")
    return torch.tensor([copy_rate(text, contexts[r // group_size], n) for r, text in enumerate(profiles)], dtype=torch.float32)


def copy_penalised(reward: Tensor, rates: Tensor, weight: float) -> Tensor:
    """``reward - weight * rates`` (``[N]``); ``weight`` 0 leaves the reward as it is."""
    if weight < 0:
        raise ValueError(f"model.reward.copy_penalty must be >= 0, got {weight}")
    return reward - weight * rates.to(reward.device, reward.dtype) if weight else reward
