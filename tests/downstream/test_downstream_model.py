"""Downstream model: answer-only labels, LoRA SFT trains only the adapter, seq2seq backbones load and answer."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import T5Config, T5ForConditionalGeneration

from bump_pl.downstream.model import (
    IGNORE_INDEX,
    add_lora,
    generate_answers,
    load_backbone,
    load_backbone_tokenizer,
    sft,
    training_batch,
)
from bump_pl.models.lora import LoraSettings
from bump_pl.models.tiny import tiny_random_llama, tiny_tokenizer

LORA = LoraSettings(rank=4, alpha=8.0, dropout=0.0)


def test_causal_labels_cover_the_answer_and_eos_only() -> None:
    tokenizer = tiny_tokenizer()  # bytes: id = byte + 3, pad 0, eos 1, no bos
    batch = training_batch(tokenizer, "causal", ["ab\nAnswer:", "x\nAnswer:"], ["4", "2"])
    prompt_ids = [b + 3 for b in b"ab\nAnswer:"]
    assert batch["input_ids"][0].tolist() == prompt_ids + [ord(" ") + 3, ord("4") + 3, 1]
    assert batch["labels"][0].tolist() == [IGNORE_INDEX] * len(prompt_ids) + [ord(" ") + 3, ord("4") + 3, 1]
    short = len(b"x\nAnswer:") + 3  # prompt, " 2", eos; right-padded by one
    assert batch["attention_mask"][1].tolist() == [1] * short + [0]
    assert batch["labels"][1].tolist()[-4:] == [ord(" ") + 3, ord("2") + 3, 1, IGNORE_INDEX]
    assert batch["input_ids"][1].tolist()[-1] == 0


def test_sft_trains_the_lora_adapter_and_nothing_else() -> None:
    tokenizer = tiny_tokenizer()
    model = add_lora(tiny_random_llama(seed=0), LORA, "causal")
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    assert all(torch.all(p == 0) for name, p in before.items() if "lora_B" in name)  # peft's init
    losses = sft(model, tokenizer, "causal", ["a\nAnswer:", "b\nAnswer:"] * 4, ["5", "1"] * 4, epochs=3, batch_size=4, lr=1e-2, seed=0)
    after = dict(model.named_parameters())
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert any(not torch.equal(before[n], after[n]) for n in before if "lora_B" in n)
    assert all(torch.equal(before[n], after[n]) for n in before if "lora_" not in n)
    assert not model.training


def test_batched_greedy_answers_match_one_at_a_time() -> None:
    tokenizer, model = tiny_tokenizer(), tiny_random_llama(seed=1).eval()
    prompts = ["short\nAnswer:", "a much longer prompt here\nAnswer:", "mid size\nAnswer:"]
    batched = generate_answers(model, tokenizer, "causal", prompts, max_answer_tokens=5, batch_size=3)
    single = [generate_answers(model, tokenizer, "causal", [p], max_answer_tokens=5, batch_size=1)[0] for p in prompts]
    assert batched == single and len(batched) == 3


def test_seq2seq_backbone_trains_and_answers(tmp_path: Path) -> None:
    tokenizer = tiny_tokenizer()
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=2,
                      decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)

    model = load_backbone(str(tmp_path), "seq2seq")
    seq_tokenizer = load_backbone_tokenizer(str(tmp_path), "seq2seq")
    assert isinstance(model, T5ForConditionalGeneration) and seq_tokenizer.padding_side == "right"
    batch = training_batch(seq_tokenizer, "seq2seq", ["rate: good", "rate: bad one"], ["5", "12"])
    assert batch["labels"].tolist() == [[ord("5") + 3, 1, IGNORE_INDEX], [ord("1") + 3, ord("2") + 3, 1]]
    model = add_lora(model, LORA, "seq2seq")
    losses = sft(model, seq_tokenizer, "seq2seq", ["rate: good"] * 8, ["5"] * 8, epochs=2, batch_size=4, lr=3e-2, seed=0)
    assert losses[-1] < losses[0]
    answers = generate_answers(model, seq_tokenizer, "seq2seq", ["rate: good", "rate: bad one"], max_answer_tokens=3, batch_size=2)
    assert len(answers) == 2 and all(isinstance(a, str) and a == a.strip() for a in answers)
