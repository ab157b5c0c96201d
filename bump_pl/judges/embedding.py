"""``EmbeddingJudge``: cosine similarity of pooled text embeddings from a frozen encoder.

Works with sentence encoders (MiniLM: ``mean`` pooling, BERT's ``cls``) and with decoder-only
LMs used as encoders (``last`` pooling: the final hidden state at each text's last real token).
Texts are tokenized without padding and right-padded here, so the last real token of every row
is at ``length - 1`` and default positions ``0..length-1`` are right for both kinds of model;
the tokenizer's own ``padding_side`` does not matter.

Each distinct text is encoded once per :meth:`EmbeddingJudge.score` call, whatever role it
plays; texts are sorted by length before batching to keep padding small.

Empty texts: a text that tokenizes to *no* tokens at all (possible only without special tokens
and without an instruction prefix) gets the zero embedding, hence score 0 against everything —
the neutral cosine. An empty profile with MiniLM still has ``[CLS] [SEP]`` and gets that
embedding's ordinary cosine score.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from bump_pl.judges.base import Direction, Side, check_score_inputs
from bump_pl.judges.config import record_init_args
from bump_pl.judges.frozen import FrozenModelHolder, ModelKind
from bump_pl.token_padding import pad_id_of, pad_token_ids

Pooling = Literal["mean", "last", "cls"]


def pool_hidden(hidden: Tensor, attention_mask: Tensor, pooling: Pooling) -> Tensor:
    """Pool right-padded hidden states ``[N, T, H]`` with mask ``[N, T]`` into ``[N, H]``.

    ``mean``: average over real tokens; ``cls``: position 0; ``last``: position ``length - 1``.
    Every row must have at least one real token.
    """
    if pooling == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1)
    if pooling == "cls":
        return hidden[:, 0]
    last = attention_mask.sum(-1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


class EmbeddingJudge(FrozenModelHolder):
    """Scores are ``cos(embed(query), embed(candidate))`` (or the dot product without ``normalize``).

    Args:
        model: name/folder/alias (loaded as ``model_kind``), or a loaded model (a
            ``*ForCausalLM`` object is used through its ``base_model``, skipping the LM head).
        tokenizer: required when ``model`` is an object.
        pooling: ``"mean"`` (MiniLM), ``"cls"`` (BERT-style) or ``"last"`` (decoder LMs).
        profile_instruction: prefix for every profile text (either direction).
        item_instruction: prefix for every item text (either direction).
        profile_query_instruction: extra prefix, put in front, for profiles when they are the
            queries (``"profile_to_item"``); e.g. an E5/Qwen3-Embedding "Instruct: ...\\nQuery: ".
        item_query_instruction: the same for items as queries (``"item_to_profile"``).
        max_length: texts (with their prefixes) are truncated to this many tokens.
        batch_size: texts per forward pass; bounds memory, does not change scores.
        normalize: cosine similarity (True) or raw dot product (False).
        device: where to put the model; None keeps it where it is.
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        model_kind: how to load a named model: ``"encoder"`` (``load_encoder``, e.g. MiniLM),
            ``"causal_lm"`` (``load_causal_lm``, e.g. a GGUF SmolLM2), or ``"auto"``: a causal LM
            for ``last`` pooling, an encoder otherwise.

    ``symmetric`` is True unless a query instruction is set: role prefixes apply to a profile or an
    item whichever side it is on, so only the query instructions make the directions differ.
    """

    def __init__(
        self,
        model: str | PreTrainedModel = "all-minilm-l6-v2",
        tokenizer: PreTrainedTokenizerBase | None = None,
        pooling: Pooling = "mean",
        profile_instruction: str = "",
        item_instruction: str = "",
        profile_query_instruction: str = "",
        item_query_instruction: str = "",
        max_length: int = 256,
        batch_size: int = 64,
        normalize: bool = True,
        device: str | None = None,
        dtype: str = "float32",
        model_kind: Literal["auto"] | ModelKind = "auto",
    ) -> None:
        self.init_args = record_init_args(EmbeddingJudge.__init__, locals())  # kept in checkpoints (judges/config.py)
        if pooling not in ("mean", "last", "cls"):
            raise ValueError(f"EmbeddingJudge: pooling must be 'mean', 'last' or 'cls', got {pooling!r}")
        if max_length < 1 or batch_size < 1:
            raise ValueError(f"EmbeddingJudge: max_length and batch_size must be >= 1, got {max_length}, {batch_size}")
        if model_kind == "auto":
            model_kind = "causal_lm" if pooling == "last" else "encoder"
        super().__init__(model, tokenizer, model_kind, device, dtype)
        self.pooling = pooling
        self.role_prefix = {"profile": profile_instruction, "item": item_instruction}
        self.query_prefix = {"profile": profile_query_instruction, "item": item_query_instruction}
        self.max_length = max_length
        self.batch_size = batch_size
        self.normalize = normalize
        self.symmetric = not (profile_query_instruction or item_query_instruction)

    def score(self, queries: list[str], candidates: list[str], direction: Direction) -> Tensor:
        """``[Q, C]`` float32 similarities on :attr:`device` (see the class docstring)."""
        check_score_inputs("EmbeddingJudge", queries, candidates, direction)
        query_texts = self._prefixed(queries, direction, "query")
        candidate_texts = self._prefixed(candidates, direction, "candidate")
        distinct = list(dict.fromkeys(query_texts + candidate_texts))
        with torch.inference_mode():
            embeddings = self._embed(distinct)
            row = {text: i for i, text in enumerate(distinct)}
            q = embeddings[[row[t] for t in query_texts]]
            c = embeddings[[row[t] for t in candidate_texts]]
            scores = q @ c.T
        return scores.clone()  # a normal tensor, usable outside inference mode

    def encode(self, texts: list[str], direction: Direction, side: Side) -> Tensor:
        """``[N, H]`` embeddings of ``texts`` with the prefixes of ``side`` in ``direction``:
        ``score(q, c, d) == encode(q, d, "query") @ encode(c, d, "candidate").T`` (the ``Retriever``
        protocol; up to float error from batching)."""
        check_score_inputs("EmbeddingJudge", texts, [], direction)
        return self.embed(self._prefixed(texts, direction, side))

    def _prefixed(self, texts: list[str], direction: Direction, side: Side) -> list[str]:
        """``texts`` with their role prefix, and the query prefix on the query side."""
        query_role, candidate_role = ("profile", "item") if direction == "profile_to_item" else ("item", "profile")
        role = query_role if side == "query" else candidate_role
        prefix = (self.query_prefix[role] if side == "query" else "") + self.role_prefix[role]
        return [prefix + text for text in texts]

    def embed(self, texts: list[str]) -> Tensor:
        """``[N, H]`` float32 embeddings of ``texts`` (unit-norm when ``normalize``), no deduplication."""
        with torch.inference_mode():
            embeddings = self._embed(texts)
        return embeddings.clone()

    def _embed(self, texts: list[str]) -> Tensor:
        """:meth:`embed` without leaving inference mode (returns an inference tensor)."""
        encoder = self.model.base_model
        out = torch.zeros((len(texts), encoder.config.hidden_size), dtype=torch.float32, device=self.device)
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"] if texts else []
        order = sorted((n for n in range(len(texts)) if ids[n]), key=lambda n: -len(ids[n]))
        pad = pad_id_of(self.tokenizer)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            input_ids, mask = pad_token_ids([ids[n] for n in batch], pad, "right", self.device)
            hidden = encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
            out[batch] = pool_hidden(hidden, mask, self.pooling).float()
        return F.normalize(out, dim=-1) if self.normalize else out
