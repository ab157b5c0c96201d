"""The ``Judge`` protocol: a frozen model that scores queries against candidates.

BUMP scores ``U*G`` profiles against ``U*K`` held-out interactions in two directions every step:

- ``"profile_to_item"``: profile ``r`` is the query, item ``j`` the candidate; ``[U*G, U*K]``.
- ``"item_to_profile"``: item ``j`` is the query, profile ``r`` the candidate; ``[U*K, U*G]``.

A judge whose two directions are transposes of each other (an embedding judge without
direction-specific instructions) says so with ``symmetric = True``; the caller then computes one
matrix and transposes it instead of scoring twice.

Judges are frozen (eval mode, no parameter requires grad, scoring under ``torch.inference_mode``)
and are *not* ``nn.Module`` s: a LightningModule keeps them outside its ``state_dict`` and moves
them with :meth:`Judge.to`. A judge that records its constructor's arguments in ``init_args``
(:func:`bump_pl.judges.config.record_init_args`) is rebuilt from a checkpoint's hyperparameters.
"""

from __future__ import annotations

from typing import Literal, Protocol, get_args, runtime_checkable

import torch
from torch import Tensor
from typing_extensions import Self

Direction = Literal["profile_to_item", "item_to_profile"]
DIRECTIONS: tuple[str, ...] = get_args(Direction)


@runtime_checkable
class Judge(Protocol):
    """Scores every query against every candidate; higher means "more likely the same user"."""

    symmetric: bool
    """True when ``score(a, b, "profile_to_item") == score(b, a, "item_to_profile").T``."""

    @property
    def device(self) -> torch.device:
        """Where the judge's model lives (and where its scores are returned)."""
        ...

    def to(self, device: str | torch.device) -> Self:
        """Move the judge's model to ``device``; returns the judge itself."""
        ...

    def score(self, queries: list[str], candidates: list[str], direction: Direction) -> Tensor:
        """``[Q, C]`` float32 scores of ``Q`` queries against ``C`` candidates, on :attr:`device`.

        Args:
            queries: profiles for ``"profile_to_item"``, held-out items for ``"item_to_profile"``.
            candidates: the other role.
            direction: which role the queries play.
        """
        ...


Side = Literal["query", "candidate"]


@runtime_checkable
class Retriever(Protocol):
    """A judge whose scores are dot products of per-text vectors: it can rank any population cheaply.

    ``score(q, c, d)`` equals ``encode(q, d, "query") @ encode(c, d, "candidate").T`` (to float
    error), so under DDP each rank encodes its own texts and only the vectors cross ranks.
    """

    symmetric: bool

    def to(self, device: str | torch.device) -> Self:
        """Move the model to ``device``; returns self."""
        ...

    def encode(self, texts: list[str], direction: Direction, side: Side) -> Tensor:
        """``[N, H]`` float32 vectors of ``texts`` playing ``side`` in ``direction``."""
        ...


def check_score_inputs(owner: str, queries: list[str], candidates: list[str], direction: str) -> None:
    """Raise one clear ``TypeError``/``ValueError`` naming ``owner`` and the bad argument."""
    if direction not in DIRECTIONS:
        raise ValueError(f"{owner}.score: direction must be one of {DIRECTIONS}, got {direction!r}")
    for name, texts in (("queries", queries), ("candidates", candidates)):
        if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
            raise TypeError(f"{owner}.score: {name} must be a list of str, got {type(texts).__name__}")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"{owner}.score: {name}[{i}] is {type(text).__name__}, expected str")
