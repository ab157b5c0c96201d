"""Rank classification: the downstream model's likelihood of each label option, and answers from it.

Free generation of a small model often collapses to one answer (always ``"4"``), which every
variant then shares. Scoring the closed label set of LaMP-1/2/3 (and ``MovieLens_rating``, scored as
LaMP-3) by likelihood still grades the questions: ``argmax`` is the likeliest option, and for ratings
``expected`` is the mean rating ``sum_k p_k * r_k`` under the softmax of the options' log-likelihoods.

An option is scored as the complete answer the downstream model learns to produce in SFT
(:func:`bump_pl.downstream.model.target_ids`: the option then EOS), placed exactly where a generated
answer begins (after the same prompt tokens :func:`bump_pl.downstream.model.generate_answers`
continues). Its score is the **sum** of its token log-probs, i.e. ``log p(answer = option | prompt)``:
with EOS closing each option these are probabilities of disjoint complete answers, so their softmax
is the model's distribution restricted to the label set. A per-token mean is not a probability and
would favour long options (LaMP-2 tags run from 2 to 6 tokens). Tensors below: ``Q`` questions,
``K`` options, ``B`` prompts per batch, ``T`` option tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput

from bump_pl.data.prompts import encode_prompt
from bump_pl.data.tasks import canonical_task_name, get_task
from bump_pl.downstream.model import IGNORE_INDEX, target_ids
from bump_pl.downstream.settings import Architecture
from bump_pl.metrics.lamp import LAMP_LABELS
from bump_pl.models.rollout import Rollouts
from bump_pl.rl.logprobs import completion_logprobs, token_logprobs
from bump_pl.token_padding import pad_id_of, pad_token_ids

#: The kinds of answers read off the options' log-likelihoods, as the report describes them.
RANK_KINDS: dict[str, str] = {
    "argmax": "the likeliest option",
    "expected": "the rating expected under the softmax of the options' log-likelihoods",
}


def label_options(metric_task: str) -> tuple[str, ...] | None:
    """The closed label set scored for ``metric_task`` (LaMP-1/2/3, in the official order), ``None`` for generation tasks."""
    return LAMP_LABELS.get(canonical_task_name(metric_task))


@torch.no_grad()
def option_logprobs(
    model: PreTrainedModel,
    tokenizer: Any,
    architecture: Architecture,
    prompts: list[str],
    options: Sequence[str],
    *,
    batch_size: int,
    desc: str = "options",
) -> Tensor:
    """``[Q, K]`` float32 ``log p(option k | prompt q)``: the sum of the option's token log-probs (see the module docstring).

    Each forward takes ``batch_size`` prompts with all ``K`` options (``B*K`` rows): a causal
    prompt is encoded once and continued by every option from its expanded KV cache
    (:func:`bump_pl.rl.logprobs.completion_logprobs`); a seq2seq prompt is encoded once and its
    encoder states are shared by the ``K`` decoder rows.
    """
    if not options:
        raise ValueError("rank classification needs at least one label option")
    device = next(model.parameters()).device
    answers = [target_ids(tokenizer, architecture, option) for option in options]
    targets, target_mask = pad_token_ids(answers, pad_id_of(tokenizer), "right", device)
    score = _seq2seq_logprobs if architecture == "seq2seq" else _causal_logprobs
    chunks = [
        score(model, tokenizer, prompts[start : start + batch_size], targets, target_mask)
        for start in tqdm(range(0, len(prompts), batch_size), desc=desc, leave=False, dynamic_ncols=True)
    ]
    return torch.cat(chunks).float().cpu()


def _causal_logprobs(model: PreTrainedModel, tokenizer: Any, prompts: list[str], targets: Tensor, target_mask: Tensor) -> Tensor:
    """``[B, K]`` option log-likelihoods after ``B`` left-padded prompts (``targets``/``target_mask`` ``[K, T]``)."""
    num_prompts, num_options = len(prompts), targets.shape[0]
    rows = [encode_prompt(prompt, tokenizer) for prompt in prompts]
    prompt_ids, prompt_mask = pad_token_ids(rows, pad_id_of(tokenizer), "left", targets.device)
    # each prompt's K options as its group of K completions: the prompt is encoded once for all of them
    answers = Rollouts(prompt_ids, prompt_mask, targets.repeat(num_prompts, 1), target_mask.repeat(num_prompts, 1), num_options)
    logps = completion_logprobs(model, answers)
    return logps.sum(-1).view(num_prompts, num_options)


def _seq2seq_logprobs(model: PreTrainedModel, tokenizer: Any, prompts: list[str], targets: Tensor, target_mask: Tensor) -> Tensor:
    """``[B, K]`` option log-likelihoods as decoder targets of ``B`` encoded prompts (``targets``/``target_mask`` ``[K, T]``)."""
    num_prompts, num_options = len(prompts), targets.shape[0]
    encoded = tokenizer(prompts, padding=True, return_tensors="pt").to(targets.device)
    states = model.get_encoder()(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]).last_hidden_state
    rows = torch.arange(num_prompts, device=targets.device).repeat_interleave(num_options)
    tokens, mask = targets.repeat(num_prompts, 1), target_mask.repeat(num_prompts, 1)
    logits = model(
        encoder_outputs=BaseModelOutput(last_hidden_state=states.index_select(0, rows)),
        attention_mask=encoded["attention_mask"].index_select(0, rows),
        labels=tokens.masked_fill(mask == 0, IGNORE_INDEX),  # decoder inputs as in SFT: labels shifted right
    ).logits
    return (token_logprobs(logits, tokens) * mask).sum(-1).view(num_prompts, num_options)


def expected_values(logprobs: Tensor, values: Sequence[float]) -> Tensor:
    """``[Q]`` mean of ``values`` (one per option) under the softmax of ``logprobs`` ``[Q, K]`` over options."""
    return logprobs.double().softmax(-1) @ torch.tensor(values, dtype=torch.float64)


def rank_predictions(logprobs: Tensor, metric_task: str) -> dict[str, list[str]]:
    """Answers of the ``Q`` questions from their option log-likelihoods ``[Q, K]`` (options of :func:`label_options`).

    ``{"argmax": [likeliest option]}``, plus for a rating task ``"expected"``: the expected rating as
    the text of its float (LaMP-3's official metric parses it with ``float()``, exactly).
    """
    options = label_options(metric_task)
    if options is None or logprobs.shape[-1] != len(options):
        raise ValueError(f"{metric_task} has {len(options or ())} label options, the scores [Q, K] have K = {logprobs.shape[-1]}")
    predictions = {"argmax": [options[k] for k in logprobs.argmax(-1).tolist()]}
    if get_task(metric_task).metric == "regression":
        predictions["expected"] = [repr(value) for value in expected_values(logprobs, [float(o) for o in options]).tolist()]
    return predictions
