"""Sample ``G`` completions per prompt, prefilling each prompt once (shared-prompt rollouts).

A BUMP prompt is a long user history; the G profiles sampled from it all share it. The shared
path runs each prompt once (:func:`~bump_pl.models.prefix.encode_prefix`), copies its KV cache to
its G samples once into a preallocated cache and decodes token by token there, dropping rows that
finished (:mod:`bump_pl.models.decode`; a CUDA graph per step on CUDA).
The naive path (``share_prompt=False``) is plain ``model.generate`` on the prompts repeated G
times, as generic GRPO trainers do; both paths draw from the global torch RNG in the same order
(one ``torch.multinomial`` over all ``U*G`` rows per step, with transformers' own logits
processors in ``generate``'s order: repetition penalty, min-new-tokens, then temperature, top-k,
top-p, min-p), so with a fixed seed they give the same tokens, not just the same distribution.

Rows are ordered ``r = u*G + g`` (prompt ``u``, sample ``g``).

The shared path can hand back the prompts' KV cache (``keep_prompt_kv``): the approximate update
(``prompt_gradients=False``, :mod:`bump_pl.rl.chunked_backward`) treats the prompts' keys and
values as constants, and these are the same constants, so it need not run the prompts again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.generation.logits_process import (
    LogitsProcessorList,
    MinNewTokensLengthLogitsProcessor,
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from bump_pl.models.decode import StaticDecoder, static_cache_from_prefix
from bump_pl.models.modes import eval_mode
from bump_pl.models.prefix import encode_prefix

END_OF_TURN_TOKENS: tuple[str, ...] = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>")


@dataclass
class SamplingSettings:
    """How rollouts are sampled (a dataclass so the CLI can expose it).

    Attributes:
        max_new_tokens: the profile length: at most this many new tokens per completion (``T``).
        temperature: softmax temperature (> 0); training log-probs must use the same one.
        top_p: nucleus mass in (0, 1]; 1 disables it.
        top_k: keep the k most likely tokens; 0 disables it.
        greedy: argmax decoding (ignores temperature, top_p, top_k and min_p).
        min_p: keep tokens with probability >= ``min_p`` times the top token's; 0 disables it.
        repetition_penalty: divide positive (multiply negative) logits of tokens already in the
            prompt or completion by this (> 0); 1 disables it. Applies to greedy decoding too.
        min_new_tokens: forbid stop tokens until this many tokens were generated; 0 disables it
            (benchmarks set it to ``max_new_tokens`` to force the exact completion length).
    """

    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    greedy: bool = False
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    min_new_tokens: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 (use greedy=True for argmax), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if not 0 <= self.min_p <= 1:
            raise ValueError(f"SamplingSettings.min_p must be in [0, 1] (0 disables it), got {self.min_p}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"SamplingSettings.repetition_penalty must be > 0 (1 disables it), got {self.repetition_penalty}")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise ValueError(
                f"SamplingSettings.min_new_tokens must be in [0, max_new_tokens={self.max_new_tokens}], got {self.min_new_tokens}"
            )


@dataclass(frozen=True)
class Rollouts:
    """``U`` prompts with ``G`` sampled completions each: what every phase of a GRPO step takes.

    :func:`generate_rollouts` fills the sampled part; :func:`~bump_pl.rl.policy_update.score_rollouts`
    adds what they were worth and what the sampling and reference policies thought of them; log-probs
    (:mod:`~bump_pl.rl.logprobs`), the policy update and its memory-bounded backward read it.

    Attributes:
        prompt_ids: ``[U, P]`` left-padded prompt tokens.
        prompt_mask: ``[U, P]`` 0/1.
        completion_ids: ``[U*G, T]`` right-padded completions, row ``r = u*G + g`` follows prompt ``u``.
        completion_mask: ``[U*G, T]`` 0/1, 1 up to and including the stop token.
        group_size: ``G`` completions per prompt.
        temperature: the sampling temperature; log-probs are those of ``logits / temperature``.
        texts: ``U*G`` decoded completions (special tokens skipped, stripped); empty for
            completions built by hand.
        truncated: ``[U*G]`` bool, True where ``max_new_tokens`` ran out before a stop token;
            None for completions built by hand.
        advantages: ``[U*G]`` group-relative advantages; None until scored.
        old_logps: ``[U*G, T]`` log-probs under the sampling policy; None when every update is
            on-policy (then the update's own detached log-probs stand in).
        ref_logps: ``[U*G, T]`` reference-policy log-probs; None without a KL term.
        keep: ``[U*G]`` bool, rollouts that take part in the loss; None keeps all.
        prompt_kv: per layer ``(keys, values)``, each ``[U, kv_heads, P, head_dim]``: the policy's
            cache of the prompts as it sampled (no grad, dropout off), kept only when asked
            (:func:`generate_rollouts`'s ``keep_prompt_kv``); None otherwise. Valid for the weights
            that sampled: an update that reuses the rollouts after an optimizer step must not read it.
    """

    prompt_ids: Tensor
    prompt_mask: Tensor
    completion_ids: Tensor
    completion_mask: Tensor
    group_size: int
    temperature: float = 1.0
    texts: list[str] = field(default_factory=list)
    truncated: Tensor | None = None
    advantages: Tensor | None = None
    old_logps: Tensor | None = None
    ref_logps: Tensor | None = None
    keep: Tensor | None = None
    prompt_kv: tuple[tuple[Tensor, Tensor], ...] | None = None

    def __post_init__(self) -> None:
        if self.prompt_ids.dim() != 2 or self.prompt_ids.shape != self.prompt_mask.shape:
            raise ValueError(
                f"Rollouts: prompt_ids {tuple(self.prompt_ids.shape)} and prompt_mask {tuple(self.prompt_mask.shape)} must both be [U, P]"
            )
        if self.group_size < 1:
            raise ValueError(f"Rollouts: group_size must be >= 1, got {self.group_size}")
        n_rows = self.num_users * self.group_size
        if self.completion_ids.shape[0] != n_rows or self.completion_ids.shape != self.completion_mask.shape:
            raise ValueError(
                f"Rollouts: completion_ids {tuple(self.completion_ids.shape)} / completion_mask {tuple(self.completion_mask.shape)} "
                f"must be [U*G, T] = [{n_rows}, T] for {self.num_users} prompts and group_size {self.group_size}"
            )
        if self.temperature <= 0:
            raise ValueError(f"Rollouts: temperature must be > 0, got {self.temperature}")
        if self.prompt_kv is not None and any(
            keys.shape[0] != self.num_users or keys.shape[2] != self.prompt_ids.shape[1] for keys, _ in self.prompt_kv
        ):
            raise ValueError(
                f"Rollouts: prompt_kv must be [U, heads, P, head_dim] = [{self.num_users}, heads, {self.prompt_ids.shape[1]}, "
                f"head_dim] per layer, got {tuple(self.prompt_kv[0][0].shape)}"
            )

    @property
    def num_users(self) -> int:
        """``U``, the number of prompts."""
        return self.prompt_ids.shape[0]

    def prompt_of_row(self) -> Tensor:
        """``[U*G]`` long: the prompt ``u`` of each completion row ``r = u*G + g``."""
        return torch.arange(self.num_users, device=self.prompt_ids.device).repeat_interleave(self.group_size)

    def mini_batches(self, count: int) -> list[Rollouts]:
        """The rollouts split by users into ``count`` contiguous, near-equal mini-batches."""
        if not 1 <= count <= self.num_users:
            raise ValueError(f"model.grpo.steps_per_generation={count} needs 1..{self.num_users} (users per batch)")
        bounds = [round(i * self.num_users / count) for i in range(count + 1)]
        return [self.users(first, stop) for first, stop in zip(bounds[:-1], bounds[1:])]

    def users(self, first: int, stop: int) -> Rollouts:
        """The rollouts of users ``first .. stop - 1`` only (a mini-batch)."""
        rows = slice(first * self.group_size, stop * self.group_size)
        pick = lambda t: None if t is None else t[rows]  # noqa: E731
        return replace(
            self,
            prompt_ids=self.prompt_ids[first:stop],
            prompt_mask=self.prompt_mask[first:stop],
            completion_ids=self.completion_ids[rows],
            completion_mask=self.completion_mask[rows],
            texts=self.texts[rows],
            truncated=pick(self.truncated),
            advantages=pick(self.advantages),
            old_logps=pick(self.old_logps),
            ref_logps=pick(self.ref_logps),
            keep=pick(self.keep),
            prompt_kv=None if self.prompt_kv is None else tuple((k[first:stop], v[first:stop]) for k, v in self.prompt_kv),
        )


def stop_token_ids(tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel | None = None) -> list[int]:
    """Ids that end a completion: eos, the model's generation eos, and a chat end-of-turn token."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    generation_config = getattr(model, "generation_config", None)
    model_eos = getattr(generation_config, "eos_token_id", None)
    if model_eos is not None:
        ids.update([model_eos] if isinstance(model_eos, int) else model_eos)
    vocab = tokenizer.get_vocab()
    ids.update(vocab[token] for token in END_OF_TURN_TOKENS if token in vocab)
    if not ids:
        raise ValueError("tokenizer has no eos token and no known end-of-turn token: rollouts could never stop")
    return sorted(ids)


def _processors(settings: SamplingSettings, prompt_mask: Tensor, stop_ids: Tensor) -> LogitsProcessorList:
    """Transformers' logits processors in ``generate``'s order, for rows with prompt mask ``[N, P]``.

    Repetition penalty and min-new-tokens apply to greedy decoding too; the warpers (temperature,
    top-k, top-p, min-p) only when sampling. The processors read the ``[N, P + t]`` token history.
    """
    processors = LogitsProcessorList()
    if settings.repetition_penalty != 1.0:
        left_pads = (prompt_mask != 0).int().argmax(dim=1)  # generate's prompt_ignore_length
        processors.append(RepetitionPenaltyLogitsProcessor(float(settings.repetition_penalty), prompt_ignore_length=left_pads))
    if settings.min_new_tokens > 0:
        processors.append(MinNewTokensLengthLogitsProcessor(prompt_mask.shape[1], settings.min_new_tokens, stop_ids))
    if settings.greedy:
        return processors
    if settings.temperature != 1.0:
        processors.append(TemperatureLogitsWarper(settings.temperature))
    if settings.top_k > 0:
        processors.append(TopKLogitsWarper(settings.top_k))
    if settings.top_p < 1.0:
        processors.append(TopPLogitsWarper(settings.top_p))
    if settings.min_p > 0:
        processors.append(MinPLogitsWarper(settings.min_p))
    return processors


def _next_tokens(logits: Tensor, history: Tensor, greedy: bool, processors: LogitsProcessorList) -> Tensor:
    """One token per row from ``[N, V]`` logits and the ``[N, P + t]`` history: argmax or a draw."""
    scores = processors(history, logits.float())
    if greedy:
        return scores.argmax(-1)
    return torch.multinomial(scores.softmax(-1), num_samples=1).squeeze(1)


def _decode_shared(
    model: PreTrainedModel,
    input_ids: Tensor,
    attention_mask: Tensor,
    group_size: int,
    settings: SamplingSettings,
    stop_ids: Tensor,
    pad_id: int,
    cuda_graphs: bool = True,
    keep_prompt_kv: bool = False,
) -> tuple[Tensor, tuple[tuple[Tensor, Tensor], ...] | None]:
    """``[U*G, T']`` raw tokens (pad after a row stops), each prompt prefilled once, and (if
    ``keep_prompt_kv``) the prefill's per-layer ``(keys, values)`` ``[U, kv_heads, P, head_dim]``.

    Decodes into a preallocated cache (:class:`~bump_pl.models.decode.StaticDecoder`). Rows that
    finished keep their last logits: every step still draws one token for all ``U*G`` rows (the
    draw's random stream does not depend on the probabilities), so tokens equal ``generate``'s.
    """
    prefix = encode_prefix(model, input_ids, attention_mask)
    n_prompts, prompt_len = input_ids.shape
    rows = torch.arange(n_prompts, device=input_ids.device).repeat_interleave(group_size)
    max_new_tokens = settings.max_new_tokens
    cache = static_cache_from_prefix(prefix.cache, rows, model.config, prompt_len + max_new_tokens)
    logits = prefix.last_logits.index_select(0, rows).float()  # [N, V], rows that finished keep theirs
    # the static cache holds copies: the prefix cache is released unless kept
    prompt_kv = tuple((layer.keys, layer.values) for layer in prefix.cache.layers) if keep_prompt_kv else None
    del prefix
    prompt_mask = attention_mask.index_select(0, rows)
    key_mask = torch.cat([prompt_mask, prompt_mask.new_zeros(rows.shape[0], max_new_tokens)], dim=1)
    decoder = StaticDecoder(model, cache, key_mask, prompt_len, cuda_graphs)
    positions = prompt_mask.sum(1)
    processors = _processors(settings, prompt_mask, stop_ids)
    history = torch.cat([input_ids.index_select(0, rows), input_ids.new_full((rows.shape[0], max_new_tokens), pad_id)], dim=1)
    done = torch.zeros(rows.shape[0], dtype=torch.bool, device=input_ids.device)
    for step in range(max_new_tokens):
        token = _next_tokens(logits, history[:, : prompt_len + step], settings.greedy, processors).masked_fill(done, pad_id)
        history[:, prompt_len + step] = token
        done = done | torch.isin(token, stop_ids)
        if step == max_new_tokens - 1 or bool(done.all()):
            break
        computed, step_logits = decoder.step(step, token, positions + step, done)
        logits[computed] = step_logits.float()
    return history[:, prompt_len : prompt_len + step + 1], prompt_kv


def _decode_naive(
    model: PreTrainedModel,
    input_ids: Tensor,
    attention_mask: Tensor,
    group_size: int,
    settings: SamplingSettings,
    stop_ids: Tensor,
    pad_id: int,
) -> Tensor:
    """``[U*G, T']`` raw tokens from ``model.generate`` on each prompt repeated ``G`` times."""
    sampling = {} if settings.greedy else {
        "temperature": settings.temperature,
        "top_k": settings.top_k,
        "top_p": settings.top_p,
        "min_p": settings.min_p if settings.min_p > 0 else None,
    }
    out = model.generate(
        input_ids=input_ids.repeat_interleave(group_size, dim=0),
        attention_mask=attention_mask.repeat_interleave(group_size, dim=0),
        max_new_tokens=settings.max_new_tokens,
        min_new_tokens=settings.min_new_tokens,
        repetition_penalty=settings.repetition_penalty,
        do_sample=not settings.greedy,
        eos_token_id=stop_ids.tolist(),
        pad_token_id=pad_id,
        **sampling,
    )
    return out[:, input_ids.shape[1] :]


def generate_rollouts(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompt_ids: Tensor,
    prompt_mask: Tensor,
    *,
    group_size: int,
    settings: SamplingSettings,
    share_prompt: bool = True,
    cuda_graphs: bool = True,
    keep_prompt_kv: bool = False,
) -> Rollouts:
    """Sample ``group_size`` completions for each of ``U`` left-padded prompts.

    Args:
        prompt_ids: ``[U, P]`` left-padded prompt tokens.
        prompt_mask: ``[U, P]`` 0/1.
        group_size: ``G`` samples per prompt.
        share_prompt: prefill each prompt once (fast) or let ``generate`` prefill it G times.
        cuda_graphs: on CUDA, replay the shared path's decode step as a CUDA graph (no effect on CPU).
        keep_prompt_kv: keep the prompts' KV cache in :attr:`Rollouts.prompt_kv` (shared path only),
            for an update that treats the prompts as constants; it stays in memory while the
            rollouts do.

    Returns:
        :class:`Rollouts` with the prompts, completions, texts and truncation flags, not yet scored.

    Runs without gradients and with dropout off; the model's train/eval mode is restored after.
    """
    if prompt_ids.shape != prompt_mask.shape or prompt_ids.dim() != 2:
        raise ValueError(f"prompt_ids {tuple(prompt_ids.shape)} and prompt_mask {tuple(prompt_mask.shape)} must both be [U, P]")
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    if bool((prompt_mask[:, -1] == 0).any()):
        raise ValueError("prompts must be left-padded (prompt_mask[:, -1] has zeros); set tokenizer.padding_side='left'")
    if keep_prompt_kv and not share_prompt:
        raise ValueError("keep_prompt_kv needs share_prompt=True: generate on G prompt copies keeps no prompt cache of [U, P]")
    stop_ids = torch.tensor(stop_token_ids(tokenizer, model), device=prompt_ids.device)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else int(stop_ids[0])
    with torch.no_grad(), eval_mode(model):
        prompt_kv = None
        if share_prompt:
            raw, prompt_kv = _decode_shared(
                model, prompt_ids, prompt_mask, group_size, settings, stop_ids, pad_id, cuda_graphs, keep_prompt_kv
            )
        else:
            raw = _decode_naive(model, prompt_ids, prompt_mask, group_size, settings, stop_ids, pad_id)
    is_stop = torch.isin(raw, stop_ids)
    after_stop = (is_stop.long().cumsum(1) - is_stop.long()) > 0
    completion_mask = (~after_stop).long()
    completion_ids = raw.masked_fill(after_stop, pad_id)
    lengths = completion_mask.sum(1).tolist()
    texts = [
        tokenizer.decode(row[:n].tolist(), skip_special_tokens=True).strip()
        for row, n in zip(completion_ids, lengths)
    ]
    return Rollouts(
        prompt_ids, prompt_mask, completion_ids, completion_mask, group_size, settings.temperature, texts,
        truncated=~is_stop.any(1), prompt_kv=prompt_kv,
    )
