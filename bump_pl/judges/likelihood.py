"""``LikelihoodJudge``: a profile is relevant to an item when it makes the item more likely under a frozen LM.

The score of a (profile, held-out item) pair is the pointwise mutual information of the item's
scored tokens with the profile::

    score(r, j) = sum_t [ log p(x_t | profile_r, x_<t) - log p(x_t | no profile, x_<t) ]

summed over the item's scored tokens ``x_t``, with the item written after the profile in
``template`` (``{profile}`` then ``{item}``, the item last); "no profile" is the same template with
an empty profile. The second term, the item's prior under the frame, is computed once per item
per call and does not depend on the profile, so a profile cannot score by pointing at items that
are likely anyway: an empty profile scores exactly 0 against every item.

A yes/no judge asks the LM a question it was never trained on; this judge asks what the LM does
best, and what a downstream model is asked: how likely is this user's next interaction. With
``scored_after`` only the part of the item after the last occurrence of that text is scored and
the rest is context in both terms: with held-out items written ``"Heat (1995) (Action): rated 2"``
(``data.heldout_template``) and ``scored_after=": rated"``, a profile is scored by how well it
predicts the user's rating of a movie given its title, the downstream rating question itself.

One matrix serves both directions (``symmetric = True``): ranking items for a profile compares
PMIs; ranking profiles for an item compares ``log p(item | profile)``, the prior being shared.

Two paths give the same scores (float error): ``share_prefix=True`` runs ``template``'s head, the
profile and the middle once per profile (:func:`~bump_pl.models.prefix.encode_prefix`) and packs the
items after it (:func:`~bump_pl.judges.packing.forward_row_packs`), ``Q*P + Q*C*T`` token-forwards;
``share_prefix=False`` runs one full sequence per pair, kept for checking.
"""

from __future__ import annotations

import torch
from torch import Tensor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from bump_pl.judges.base import Direction, check_score_inputs
from bump_pl.judges.config import record_init_args
from bump_pl.judges.cross import pack_tokens_for
from bump_pl.judges.frozen import FrozenModelHolder
from bump_pl.judges.packing import check_pair_sizes, forward_row_packs, plan_packs
from bump_pl.models.prefix import encode_prefix, forward_full
from bump_pl.token_padding import pad_id_of, pad_token_ids

PROFILE, ITEM = "{profile}", "{item}"
TEMPLATE = "A user's profile:\n{profile}\n\nOne of this user's interactions:\n{item}"
LOGIT_ROWS = 256
"""Hidden states turned into ``[rows, V]`` log-probs at once (50 MB of float32 at V = 49152)."""


def template_pieces(template: str, tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """``(head, middle)`` token ids of ``template`` = ``head {profile} middle {item}``.

    Raises:
        ValueError: markers missing, repeated, out of order, text after ``{item}`` (the item's tokens
            must be the last, so that they are the continuation), or no text before ``{item}``
            besides the profile (an empty profile would leave nothing to predict the item from).
    """
    if template.count(PROFILE) != 1 or template.count(ITEM) != 1:
        raise ValueError(f"LikelihoodJudge: template must contain {PROFILE} and {ITEM} exactly once each: {template!r}")
    head, rest = template.split(PROFILE)
    if ITEM in head:
        raise ValueError(f"LikelihoodJudge: template must put {PROFILE} before {ITEM}: {template!r}")
    middle, tail = rest.split(ITEM)
    if tail:
        raise ValueError(f"LikelihoodJudge: template must end with {ITEM} (the scored tokens come last): {template!r}")
    ids = [tokenizer(text, add_special_tokens=False)["input_ids"] if text else [] for text in (head, middle)]
    if not (ids[0] or ids[1]):
        raise ValueError(f"LikelihoodJudge: template needs some text around {PROFILE}: {template!r}")
    return ids[0], ids[1]


def token_logprobs(model: PreTrainedModel, hidden: Tensor, targets: Tensor) -> Tensor:
    """``[N]`` log-probs of ``targets`` ``[N]`` under the LM head at ``hidden`` ``[N, H]``, in row chunks."""
    head = model.get_output_embeddings()
    out = torch.empty(targets.shape, dtype=torch.float32, device=hidden.device)
    for start in range(0, hidden.shape[0], LOGIT_ROWS):
        rows = slice(start, start + LOGIT_ROWS)
        log_p = torch.log_softmax(head(hidden[rows]).float(), dim=-1)
        out[rows] = log_p.gather(1, targets[rows, None]).squeeze(1)
    return out


class LikelihoodJudge(FrozenModelHolder):
    """PMI of an item's scored tokens with a profile under a frozen causal LM (see the module docstring).

    Args:
        model: name/folder/alias loaded with ``load_causal_lm``, or a loaded ``*ForCausalLM``.
        tokenizer: required when ``model`` is an object.
        template: ``head {profile} middle {item}``; the item comes last.
        scored_after: score only the item's text after the last occurrence of this text (the rest
            conditions both terms); None scores the whole item. Every item must contain it.
        share_prefix: encode each profile once and pack the items after it (True) or run every pair.
        max_length: profiles and items are each truncated to this many tokens.
        batch_size: profiles whose prefixes are encoded in one forward.
        max_pairs_per_chunk: (profile, item) pairs per forward, on both paths.
        pack_tokens: item tokens per packed row (shared path); 0 sizes it from free memory.
        device: where to put the model; None keeps it where it is.
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"``.
    """

    symmetric = True

    def __init__(
        self,
        model: str | PreTrainedModel = "smollm2-135m-instruct",
        tokenizer: PreTrainedTokenizerBase | None = None,
        template: str = TEMPLATE,
        scored_after: str | None = None,
        share_prefix: bool = True,
        max_length: int = 256,
        batch_size: int = 8,
        max_pairs_per_chunk: int = 64,
        pack_tokens: int = 0,
        device: str | None = None,
        dtype: str = "float32",
    ) -> None:
        self.init_args = record_init_args(LikelihoodJudge.__init__, locals())  # kept in checkpoints
        check_pair_sizes("LikelihoodJudge", max_length, batch_size, max_pairs_per_chunk, pack_tokens)
        if scored_after is not None and not scored_after:
            raise ValueError("LikelihoodJudge: scored_after must be a non-empty text or None (score the whole item)")
        super().__init__(model, tokenizer, "causal_lm", device, dtype)
        self.head, self.middle = template_pieces(template, self.tokenizer)
        self.scored_after = scored_after
        self.share_prefix = share_prefix
        self.max_length = max_length
        self.batch_size = batch_size
        self.max_pairs_per_chunk = max_pairs_per_chunk
        self.pack_tokens = pack_tokens
        self.pad_id = pad_id_of(self.tokenizer)

    def score(self, queries: list[str], candidates: list[str], direction: Direction) -> Tensor:
        """``[Q, C]`` float32 PMIs on :attr:`device` (profiles × items, transposed for ``item_to_profile``)."""
        check_score_inputs("LikelihoodJudge", queries, candidates, direction)
        return self.score_sets(queries, candidates, torch.ones((len(queries), len(candidates)), dtype=torch.bool), direction)

    def score_sets(self, queries: list[str], candidates: list[str | None], scored: Tensor, direction: Direction) -> Tensor:
        """``[Q, C]`` PMIs where ``scored`` (``[Q, C]`` bool) is True, 0 elsewhere (hybrid negatives).

        Texts that no pair reads may be None. Only the profiles and items some pair reads are run,
        and each item's prior once.
        """
        scored = scored.cpu().bool()
        if direction == "item_to_profile":
            return self.score_sets(candidates, queries, scored.T, "profile_to_item").T.contiguous()
        rows = scored.any(dim=1).nonzero().flatten()
        cols = scored.any(dim=0).nonzero().flatten()
        profiles, items = [queries[q] for q in rows.tolist()], [candidates[c] for c in cols.tolist()]
        check_score_inputs("LikelihoodJudge", profiles, items, direction)
        local = scored[rows[:, None], cols[None, :]]  # [R, C'] over the profiles and items read
        columns = [row.nonzero().flatten().tolist() for row in local]
        item_ids = self._items(items)
        with torch.inference_mode():
            conditional = self._logps([self._ids(text) for text in profiles], item_ids, columns)
            prior = self._logps([[]], item_ids, [list(range(len(items)))])[0]
        out = torch.zeros(scored.shape, dtype=torch.float32, device=self.device)
        pmi = torch.where(local.to(self.device), conditional - prior[None, :], torch.zeros_like(conditional))
        out[rows.to(self.device)[:, None], cols.to(self.device)[None, :]] = pmi
        return out

    def _ids(self, text: str) -> list[int]:
        """``text``'s ids without special tokens, truncated to ``max_length``."""
        return self.tokenizer(text, add_special_tokens=False)["input_ids"][: self.max_length] if text else []

    def _items(self, texts: list[str]) -> list[tuple[list[int], int]]:
        """Each item as ``(ids, first scored index)``: its context (up to and with ``scored_after``) and
        its scored part tokenized apart, so the boundary is exact; truncated to ``max_length``.

        Raises:
            ValueError: an item lacks ``scored_after``.
        """
        if self.scored_after is None:
            return [(self._ids(text), 0) for text in texts]
        items = []
        for text in texts:
            cut = text.rfind(self.scored_after) + len(self.scored_after)
            if cut < len(self.scored_after):
                raise ValueError(
                    f"LikelihoodJudge: held-out item {text[:60]!r} has no {self.scored_after!r} to score the text after"
                    " (scored_after must match data.heldout_template)"
                )
            context = self._ids(text[:cut])
            ids = (context + self._ids(text[cut:]))[: self.max_length]
            items.append((ids, min(len(context), len(ids))))
        return items

    def _logps(self, profiles: list[list[int]], items: list[tuple[list[int], int]], columns: list[list[int]]) -> Tensor:
        """``[len(profiles), len(items)]`` ``log p(scored tokens | profile)``; profile ``q`` reads the
        items ``columns[q]``, 0 elsewhere."""
        prefixes = [self.head + ids + self.middle for ids in profiles]
        if self.share_prefix:
            return self._logps_shared(prefixes, items, columns)
        return self._logps_naive(prefixes, items, columns)

    def _logps_shared(self, prefixes: list[list[int]], items: list[tuple[list[int], int]],
                      columns: list[list[int]]) -> Tensor:
        """Encode ``batch_size`` prefixes at a time; each packs its own items into rows after it.

        An item's first token is predicted by the prefix's last position, token ``t >= 1`` by the
        packed slot of token ``t - 1``.
        """
        out = torch.zeros((len(prefixes), len(items)), dtype=torch.float32, device=self.device)
        rows = max(1, min(self.batch_size, len(prefixes)))
        width = self.pack_tokens or pack_tokens_for(self.model, rows, torch.device(self.device))
        per_pack = max(1, self.max_pairs_per_chunk // rows)
        packs = [
            [[row[i] for i in pack] for pack in plan_packs([len(items[c][0]) for c in row], width, per_pack)]
            for row in columns
        ]
        order = sorted(range(len(prefixes)), key=lambda q: -len(prefixes[q]))
        for query_rows in [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]:
            prefix_ids, prefix_mask = pad_token_ids([prefixes[q] for q in query_rows], self.pad_id, "left", self.device)
            prefix = encode_prefix(self.model, prefix_ids, prefix_mask)
            first = torch.log_softmax(prefix.last_logits.float(), dim=-1)  # [B, V]: each item's first token
            for step in range(max(len(packs[q]) for q in query_rows)):
                row_packs = [packs[q][step] if step < len(packs[q]) else [] for q in query_rows]
                packed = forward_row_packs(self.model, prefix.cache, prefix_mask,
                                           [[items[c][0] for c in pack] for pack in row_packs], self.pad_id)
                rows_at, slots, targets, owners = [], [], [], []
                for b, (q, pack) in enumerate(zip(query_rows, row_packs)):
                    for c, start in zip(pack, packed.starts[b]):
                        ids, scored_from = items[c]
                        if scored_from == 0 and ids:
                            out[q, c] += first[b, ids[0]]
                        for t in range(max(1, scored_from), len(ids)):
                            rows_at.append(b), slots.append(start + t - 1), targets.append(ids[t])
                            owners.append(q * len(items) + c)
                if targets:
                    hidden = packed.hidden[torch.tensor(rows_at), torch.tensor(slots)]
                    logps = token_logprobs(self.model, hidden, torch.tensor(targets, device=self.device))
                    out.view(-1).index_add_(0, torch.tensor(owners, device=self.device), logps)
        return out

    def _logps_naive(self, prefixes: list[list[int]], items: list[tuple[list[int], int]],
                     columns: list[list[int]]) -> Tensor:
        """Every pair as one full left-padded sequence ``prefix + item``, ``max_pairs_per_chunk`` per forward."""
        out = torch.zeros((len(prefixes), len(items)), dtype=torch.float32, device=self.device)
        pairs = [(q, c) for q, row in enumerate(columns) for c in row]
        for start in range(0, len(pairs), self.max_pairs_per_chunk):
            chunk = pairs[start : start + self.max_pairs_per_chunk]
            ids, mask = pad_token_ids([prefixes[q] + items[c][0] for q, c in chunk], self.pad_id, "left", self.device)
            log_p = torch.log_softmax(forward_full(self.model, ids, mask).float(), dim=-1)  # [N, L, V]
            for n, (q, c) in enumerate(chunk):
                item, scored_from = items[c]
                end = ids.shape[1]
                for t in range(scored_from, len(item)):
                    out[q, c] += log_p[n, end - len(item) + t - 1, item[t]]
        return out
