"""``CrossJudge``: a frozen causal LM reads query + candidate + a yes/no question; score = logit gap.

The score of a pair is ``logit(yes) - logit(no)`` at the answer position (the last prompt
token), where ``yes``/``no`` are the *first token* of ``yes_word``/``no_word`` tokenized exactly
as given. The defaults (``"Yes"``/``"No"``, no leading space) fit chat templates, where the
answer is the first token of the assistant turn; without a chat template the default prompts
end with ``"Answer:"``, so pass ``yes_word=" Yes", no_word=" No"`` there.

Two paths give the same scores (to float error, <= 1e-4 in float32):

- ``share_prefix=True``: each query's prefix (``head + query + middle``, see
  :mod:`bump_pl.judges.prompt`) is run once with :func:`~bump_pl.models.prefix.encode_prefix`;
  the candidates are then packed end to end into rows after that cached prefix, with a block
  attention mask (:mod:`bump_pl.judges.packing`), and only the hidden states at the candidates'
  answer positions go through the LM head. With ``Q`` queries of ``P`` tokens and ``C``
  candidates of ``T`` tokens this costs ``Q*P + Q*C*T`` token-forwards instead of
  ``Q*C*(P+T)``, with no per-pair copy of the prefix's KV cache and no per-pair padding.
- ``share_prefix=False``: the naive path, one left-padded full sequence per pair, kept for checking.

Memory is bounded by ``batch_size`` (queries per forward), ``max_pairs_per_chunk`` (pairs per
forward, on both paths) and ``pack_tokens`` (candidate tokens per packed row; 0 sizes it from the
device's free memory, see :func:`pack_tokens_for`), not by ``Q`` or ``C``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from bump_pl.judges.base import Direction, check_score_inputs
from bump_pl.judges.config import record_init_args
from bump_pl.judges.frozen import FrozenModelHolder
from bump_pl.judges.packing import check_pair_sizes, forward_row_packs, packed_attention_mask, plan_packs, segment_ids
from bump_pl.judges.prompt import PromptPieces, first_token_id, prompt_pieces
from bump_pl.models.prefix import encode_prefix, forward_full
from bump_pl.token_padding import pad_id_of, pad_token_ids

# The question sits in the shared prefix, before the candidate, so that the per-pair continuation
# is only the candidate plus a few closing tokens (the continuation is what costs per pair).
PROFILE_TO_ITEM_PROMPT = (
    "Here is the profile of a user:\n{query}\n\n"
    "Did the user described by this profile make the interaction below? Answer Yes or No.\n\n"
    "Interaction:\n{candidate}\n\nAnswer:"
)
ITEM_TO_PROFILE_PROMPT = (
    "Here is an interaction made by a user:\n{query}\n\n"
    "Does the profile below describe the user who made this interaction? Answer Yes or No.\n\n"
    "Profile:\n{candidate}\n\nAnswer:"
)


# A packed row's attention costs ~width x (P + width) per row, paid on the padding between a
# candidate and the others too; 2,048 keeps that under ~25% of a 0.5B model's matmul cost.
MAX_PACK_TOKENS = 2048
CPU_PACK_TOKENS = 512


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def pack_tokens_for(model: PreTrainedModel, rows: int, device: torch.device) -> int:
    """Candidate tokens per packed row when ``pack_tokens=0``: from free memory on CUDA, small on CPU.

    A no-grad forward holds about ``(4 * hidden + 3 * intermediate)`` activations per token at
    once (residual, attention output, MLP gate/up/act) plus the ``[rows, W, P + W]`` mask; a
    quarter of the free memory is given to ``rows * W`` tokens, capped at :data:`MAX_PACK_TOKENS`.
    """
    if device.type != "cuda":
        return CPU_PACK_TOKENS
    config = model.config.get_text_config()
    per_token = (4 * config.hidden_size + 3 * config.intermediate_size) * torch.finfo(model.dtype).bits // 8
    free, _ = torch.cuda.mem_get_info(device)
    return int(max(64, min(MAX_PACK_TOKENS, free // 4 // (per_token * rows))))


class CrossJudge(FrozenModelHolder):
    """Pairwise yes/no judge on a causal LM (see the module docstring). ``symmetric`` is False.

    Args:
        model: name/folder/alias loaded with ``load_causal_lm``, or a loaded ``*ForCausalLM``.
        tokenizer: required when ``model`` is an object.
        profile_to_item_prompt: template for profile queries and item candidates.
        item_to_profile_prompt: template for item queries and profile candidates.
        yes_word: its first token is the "yes" logit.
        no_word: its first token is the "no" logit.
        share_prefix: encode each query once and share its KV cache (True) or run every pair in full.
        use_chat_template: render templates with the tokenizer's chat template when it has one.
        max_length: query and candidate texts are each truncated to this many tokens.
        batch_size: queries whose prefixes are encoded in one forward.
        max_pairs_per_chunk: (query, candidate) pairs per forward, on both paths.
        pack_tokens: candidate tokens per packed row (shared path); 0 sizes it from free memory.
        device: where to put the model; None keeps it where it is.
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"``.
    """

    symmetric = False

    def __init__(
        self,
        model: str | PreTrainedModel = "smollm2-135m-instruct",
        tokenizer: PreTrainedTokenizerBase | None = None,
        profile_to_item_prompt: str = PROFILE_TO_ITEM_PROMPT,
        item_to_profile_prompt: str = ITEM_TO_PROFILE_PROMPT,
        yes_word: str = "Yes",
        no_word: str = "No",
        share_prefix: bool = True,
        use_chat_template: bool = True,
        max_length: int = 1024,
        batch_size: int = 8,
        max_pairs_per_chunk: int = 64,
        pack_tokens: int = 0,
        device: str | None = None,
        dtype: str = "float32",
    ) -> None:
        self.init_args = record_init_args(CrossJudge.__init__, locals())  # kept in checkpoints (judges/config.py)
        check_pair_sizes("CrossJudge", max_length, batch_size, max_pairs_per_chunk, pack_tokens)
        super().__init__(model, tokenizer, "causal_lm", device, dtype)
        self.prompts: dict[str, PromptPieces] = {
            "profile_to_item": prompt_pieces(
                profile_to_item_prompt, self.tokenizer, use_chat_template, "profile_to_item_prompt"
            ),
            "item_to_profile": prompt_pieces(
                item_to_profile_prompt, self.tokenizer, use_chat_template, "item_to_profile_prompt"
            ),
        }
        self.yes_id = first_token_id(self.tokenizer, yes_word, "yes_word")
        self.no_id = first_token_id(self.tokenizer, no_word, "no_word")
        if self.yes_id == self.no_id:
            raise ValueError(f"CrossJudge: yes_word={yes_word!r} and no_word={no_word!r} start with the same token")
        self.share_prefix = share_prefix
        self.max_length = max_length
        self.batch_size = batch_size
        self.max_pairs_per_chunk = max_pairs_per_chunk
        self.pack_tokens = pack_tokens
        self.pad_id = pad_id_of(self.tokenizer)

    def score(self, queries: list[str], candidates: list[str], direction: Direction) -> Tensor:
        """``[Q, C]`` float32 ``logit(yes) - logit(no)`` on :attr:`device`."""
        check_score_inputs("CrossJudge", queries, candidates, direction)
        pieces = self.prompts[direction]
        prefixes = [pieces.prefix(ids) for ids in self._token_ids(queries)]
        continuations = [pieces.continuation(ids) for ids in self._token_ids(candidates)]
        with torch.inference_mode():
            if self.share_prefix:
                scores = self._score_shared(prefixes, continuations)
            else:
                scores = self._score_naive(prefixes, continuations)
        return scores.clone()  # a normal tensor, usable outside inference mode

    def score_sets(self, queries: list[str], candidates: list[str | None], scored: Tensor, direction: Direction) -> Tensor:
        """``[Q, C]`` gaps where ``scored`` (``[Q, C]`` bool) is True, 0 elsewhere: each query against its
        own candidates (hybrid negatives), ``batch_size`` queries per forward, each row packing its
        query's candidates. Candidates that no query scores may be None (they are not read)."""
        needed = scored.any(dim=0).tolist()
        texts = [text for text, need in zip(candidates, needed) if need]
        check_score_inputs("CrossJudge", queries, texts, direction)
        pieces = self.prompts[direction]
        prefixes = [pieces.prefix(ids) for ids in self._token_ids(queries)]
        chosen = iter(self._token_ids(texts))
        continuations = [pieces.continuation(next(chosen)) if need else [] for need in needed]
        columns = [row.nonzero().flatten().tolist() for row in scored.cpu()]
        with torch.inference_mode():
            if self.share_prefix:
                scores = self._score_shared_sets(prefixes, continuations, columns)
            else:
                pairs = [(q, c) for q, row in enumerate(columns) for c in row]
                scores = self._score_naive(prefixes, continuations, pairs)
        return scores.clone()

    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        """Each text's ids without special tokens, truncated to ``max_length``."""
        if not texts:
            return []
        return [ids[: self.max_length] for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def _answer_scores(self, last_logits: Tensor) -> Tensor:
        """``[N]`` yes-minus-no gap from ``[N, V]`` answer-position logits."""
        return last_logits[:, self.yes_id].float() - last_logits[:, self.no_id].float()

    def _score_shared(self, prefixes: list[list[int]], continuations: list[list[int]]) -> Tensor:
        """Encode ``batch_size`` prefixes at a time; run all candidates after them in packed rows."""
        scores = torch.zeros((len(prefixes), len(continuations)), dtype=torch.float32, device=self.device)
        lengths = [len(ids) for ids in continuations]
        rows = max(1, min(self.batch_size, len(prefixes)))
        width = self.pack_tokens or pack_tokens_for(self.model, rows, torch.device(self.device))
        packs = plan_packs(lengths, width, max(1, self.max_pairs_per_chunk // rows))
        for query_rows in _chunks(sorted(range(len(prefixes)), key=lambda q: -len(prefixes[q])), self.batch_size):
            prefix_ids, prefix_mask = pad_token_ids([prefixes[q] for q in query_rows], self.pad_id, "left", self.device)
            prefix = encode_prefix(self.model, prefix_ids, prefix_mask)
            q_index = torch.tensor(query_rows, device=self.device)
            for pack in packs:
                gaps = self._score_pack(prefix.cache, prefix_mask, [continuations[c] for c in pack])
                scores[q_index[:, None], torch.tensor(pack, device=self.device)[None, :]] = gaps
        return scores

    def _score_shared_sets(self, prefixes: list[list[int]], continuations: list[list[int]],
                           columns: list[list[int]]) -> Tensor:
        """As :meth:`_score_shared`, but query ``q`` reads only its candidates ``columns[q]``, packed
        into rows of its own; the ``batch_size`` queries of a forward each bring their next pack."""
        scores = torch.zeros((len(prefixes), len(continuations)), dtype=torch.float32, device=self.device)
        rows = max(1, min(self.batch_size, len(prefixes)))
        width = self.pack_tokens or pack_tokens_for(self.model, rows, torch.device(self.device))
        items = max(1, self.max_pairs_per_chunk // rows)
        packs = [
            [[row[i] for i in pack] for pack in plan_packs([len(continuations[c]) for c in row], width, items)]
            for row in columns
        ]
        for query_rows in _chunks(sorted(range(len(prefixes)), key=lambda q: -len(prefixes[q])), self.batch_size):
            prefix_ids, prefix_mask = pad_token_ids([prefixes[q] for q in query_rows], self.pad_id, "left", self.device)
            prefix = encode_prefix(self.model, prefix_ids, prefix_mask)
            for step in range(max(len(packs[q]) for q in query_rows)):
                row_packs = [packs[q][step] if step < len(packs[q]) else [] for q in query_rows]
                gaps = self._score_row_packs(prefix.cache, prefix_mask, [[continuations[c] for c in p] for p in row_packs])
                for b, (q, pack) in enumerate(zip(query_rows, row_packs)):
                    scores[q, pack] = gaps[b, : len(pack)]
        return scores

    def _score_row_packs(self, cache, prefix_mask: Tensor, row_packs: list[list[list[int]]]) -> Tensor:
        """``[B, n]`` gaps: row ``b`` packs its own candidates ``row_packs[b]`` (``n`` = the most of any
        row; a row's columns past its own count are filler) after its cached prefix."""
        packed = forward_row_packs(self.model, cache, prefix_mask, row_packs, self.pad_id)
        answers = torch.zeros((len(row_packs), max(1, max(len(row) for row in packed.lengths))), dtype=torch.long)
        for b, (starts, lengths) in enumerate(zip(packed.starts, packed.lengths)):
            answers[b, : len(starts)] = torch.tensor([s + n - 1 for s, n in zip(starts, lengths)], dtype=torch.long)
        hidden = packed.hidden
        at_answers = hidden.gather(1, answers.to(self.device)[..., None].expand(-1, -1, hidden.shape[-1]))
        logits = self.model.get_output_embeddings()(at_answers)
        return logits[..., self.yes_id].float() - logits[..., self.no_id].float()

    def _score_pack(self, cache, prefix_mask: Tensor, pack: list[list[int]]) -> Tensor:
        """``[B, n]`` gaps of ``n`` candidates packed into one row after each of ``B`` cached prefixes.

        ``cache`` (``B`` prefixes of ``P`` tokens) grows by the row during the forward and is cut
        back to ``P`` after it.
        """
        lengths = [len(ids) for ids in pack]
        width = sum(lengths)
        segment, local = segment_ids(lengths, width, self.device)
        row = torch.tensor([token for ids in pack for token in ids], dtype=torch.long, device=self.device)
        batch = prefix_mask.shape[0]
        out = self.model.get_decoder()(
            input_ids=row.expand(batch, width),
            attention_mask=packed_attention_mask(prefix_mask, segment, self.model.dtype),
            position_ids=prefix_mask.sum(-1, keepdim=True) + local[None, :],
            cache=cache,
            use_cache=True,
        )
        cache.crop(-width)
        answers = torch.tensor(lengths, device=self.device).cumsum(0) - 1  # each candidate's last slot
        logits = self.model.get_output_embeddings()(out.last_hidden_state[:, answers])
        return logits[..., self.yes_id].float() - logits[..., self.no_id].float()

    def _score_naive(self, prefixes: list[list[int]], continuations: list[list[int]],
                     pairs: list[tuple[int, int]] | None = None) -> Tensor:
        """Every pair (or the given ``(query, candidate)`` ``pairs``, the rest 0) as one full
        left-padded sequence, ``max_pairs_per_chunk`` per forward."""
        scores = torch.zeros((len(prefixes), len(continuations)), dtype=torch.float32, device=self.device)
        if pairs is None:
            pairs = [(q, c) for q in range(len(prefixes)) for c in range(len(continuations))]
        pairs.sort(key=lambda qc: -(len(prefixes[qc[0]]) + len(continuations[qc[1]])))
        for chunk in _chunks(pairs, self.max_pairs_per_chunk):
            seqs = [prefixes[q] + continuations[c] for q, c in chunk]
            ids, mask = pad_token_ids(seqs, self.pad_id, "left", self.device)
            logits = forward_full(self.model, ids, mask, logits_to_keep=1)
            q_index = torch.tensor([q for q, _ in chunk], device=self.device)
            c_index = torch.tensor([c for _, c in chunk], device=self.device)
            scores[q_index, c_index] = self._answer_scores(logits[:, -1])
        return scores
