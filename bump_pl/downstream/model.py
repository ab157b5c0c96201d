"""The downstream model of the LaMP evaluation: loading, a plain LoRA SFT loop, greedy answers.

Separate from the policy: loaded fresh from ``backbone`` for each evaluation and freed after.
``causal`` backbones (SmolLM2, Qwen, the tiny Llama) load through ``bump_pl.models.load_causal_lm``;
``seq2seq`` backbones (FlanT5-style) through ``AutoModelForSeq2SeqLM``. Tensors below: ``B`` examples,
``L`` tokens.
"""

from __future__ import annotations

import random
from typing import Any

import torch
from peft import PeftModel, get_peft_model
from torch import Tensor
from tqdm.auto import tqdm
from transformers import AutoModelForSeq2SeqLM, PreTrainedModel

from bump_pl.data.prompts import encode_prompt
from bump_pl.downstream.settings import Architecture
from bump_pl.models import load_causal_lm, load_tokenizer
from bump_pl.models.lora import LoraSettings
from bump_pl.token_padding import pad_id_of, pad_token_ids

IGNORE_INDEX = -100


def load_backbone(
    name: str, architecture: Architecture, dtype: str = "float32", device: torch.device | str = "cpu"
) -> PreTrainedModel:
    """The downstream model, freshly loaded onto ``device``, in eval mode."""
    if architecture == "causal":
        return load_causal_lm(name, dtype=dtype).to(device).eval()
    if architecture == "seq2seq":
        return AutoModelForSeq2SeqLM.from_pretrained(name, dtype=getattr(torch, dtype)).to(device).eval()
    raise ValueError(f"downstream architecture must be 'causal' or 'seq2seq', got {architecture!r}")


def load_backbone_tokenizer(name: str, architecture: Architecture) -> Any:
    """The backbone's tokenizer; causal prompts pad on the left (generation), seq2seq inputs on the right."""
    return load_tokenizer(name, padding_side="left" if architecture == "causal" else "right")


def add_lora(model: PreTrainedModel, lora: LoraSettings, architecture: Architecture) -> PeftModel:
    """A fresh LoRA adapter on ``model`` (only adapter weights train)."""
    return get_peft_model(model, lora.peft_config("CAUSAL_LM" if architecture == "causal" else "SEQ_2_SEQ_LM"))


def answer_ids(tokenizer: Any, answer: str) -> list[int]:
    """Token ids of a gold answer as a causal LM must continue the prompt: a leading space after a
    plain-text ``"Answer:"`` prompt, then the answer, then EOS."""
    text = answer if getattr(tokenizer, "chat_template", None) else f" {answer}"
    return [*tokenizer(text, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]


def target_ids(tokenizer: Any, architecture: Architecture, answer: str) -> list[int]:
    """Token ids the model learns to produce for ``answer`` (and that a label option is scored on):
    :func:`answer_ids` for a causal LM, the tokenizer's own encoding for seq2seq (T5 tokenizers append EOS)."""
    return tokenizer(answer)["input_ids"] if architecture == "seq2seq" else answer_ids(tokenizer, answer)


def training_batch(tokenizer: Any, architecture: Architecture, prompts: list[str], answers: list[str]) -> dict[str, Tensor]:
    """Model inputs with ``labels`` on answer tokens only (``-100`` on prompt and padding), all ``[B, L]``."""
    if architecture == "seq2seq":
        encoded = tokenizer(prompts, padding=True, return_tensors="pt")
        targets = [target_ids(tokenizer, architecture, answer) for answer in answers]
        return {**encoded, "labels": pad_token_ids(targets, IGNORE_INDEX, "right")[0]}
    inputs, labels = [], []
    for prompt, answer in zip(prompts, answers):
        prompt_ids, target = encode_prompt(prompt, tokenizer), target_ids(tokenizer, architecture, answer)
        inputs.append(prompt_ids + target)
        labels.append([IGNORE_INDEX] * len(prompt_ids) + target)
    input_ids, mask = pad_token_ids(inputs, pad_id_of(tokenizer), "right")
    return {"input_ids": input_ids, "attention_mask": mask, "labels": pad_token_ids(labels, IGNORE_INDEX, "right")[0]}


def sft(
    model: PreTrainedModel,
    tokenizer: Any,
    architecture: Architecture,
    prompts: list[str],
    answers: list[str],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    desc: str = "SFT",
) -> list[float]:
    """Plain supervised fine-tuning of ``model``'s trainable weights (AdamW); returns every step's loss.

    The model is left in eval mode.
    """
    if not prompts:
        raise ValueError("downstream SFT has no training examples")
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    order = list(range(len(prompts)))
    losses = []
    model.train()
    progress = tqdm(total=epochs * -(-len(order) // batch_size), desc=desc, leave=False, dynamic_ncols=True)
    for epoch in range(epochs):
        random.Random(f"{seed}:{epoch}").shuffle(order)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            batch = training_batch(tokenizer, architecture, [prompts[i] for i in chosen], [answers[i] for i in chosen])
            loss = model(**{key: value.to(device) for key, value in batch.items()}).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            progress.update()
    progress.close()
    model.eval()
    return losses


@torch.no_grad()
def generate_answers(
    model: PreTrainedModel,
    tokenizer: Any,
    architecture: Architecture,
    prompts: list[str],
    *,
    max_answer_tokens: int,
    batch_size: int,
    desc: str = "answers",
) -> list[str]:
    """Greedy answers to ``prompts`` of at most ``max_answer_tokens`` tokens (new tokens only, special
    tokens dropped, stripped)."""
    device = next(model.parameters()).device
    answers: list[str] = []
    for start in tqdm(range(0, len(prompts), batch_size), desc=desc, leave=False, dynamic_ncols=True):
        chunk = prompts[start : start + batch_size]
        if architecture == "seq2seq":
            encoded = tokenizer(chunk, padding=True, return_tensors="pt").to(device)
            new_tokens = model.generate(**encoded, max_new_tokens=max_answer_tokens, do_sample=False)
        else:
            rows = [encode_prompt(prompt, tokenizer) for prompt in chunk]
            input_ids, mask = pad_token_ids(rows, pad_id_of(tokenizer), "left", device)
            output = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=max_answer_tokens,
                do_sample=False,
                pad_token_id=pad_id_of(tokenizer),
            )
            new_tokens = output[:, input_ids.shape[1] :]
        answers.extend(text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    return answers
