"""The pieces of bench/vs_trl.py: timing figures, exact-length prompts, TRL's reward wrapper, the bump side's options."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _bump_side import build_bump_module  # noqa: E402
from _measure import median_after_warmup, step_durations  # noqa: E402
from _workload import BenchSettings, Workload, exact_length_prompt, trl_token_ids  # noqa: E402

from bump_pl.models.tiny import tiny_tokenizer  # noqa: E402


def test_step_durations_and_median_drop_the_warmup_step():
    stamps = [10.0, 15.0, 16.0, 18.0, 19.5]
    assert step_durations(stamps) == [5.0, 1.0, 2.0, 1.5]
    assert median_after_warmup([5.0, 1.0, 2.0, 1.5]) == 1.5
    assert median_after_warmup([9.0, 2.0]) == 2.0


def test_timing_rejects_too_few_steps_and_decreasing_stamps():
    with pytest.raises(ValueError, match="warm-up"):
        median_after_warmup([3.0])
    with pytest.raises(ValueError, match="must not decrease"):
        step_durations([1.0, 0.5])


def test_settings_name_the_bad_flag():
    with pytest.raises(ValueError, match="--group-size"):
        BenchSettings(group_size=1)
    with pytest.raises(ValueError, match="--trl-micro-batch"):
        BenchSettings(users=2, group_size=4, trl_micro_batch=3)
    with pytest.raises(ValueError, match="--steps"):
        BenchSettings(steps=1)


HISTORY = [f"text: a kettle that boils water quickly and quietly; score: {i % 5 + 1} (#{i})" for i in range(40)]


@pytest.mark.parametrize("length", [300, 301, 333, 512, 777, 1500])
def test_exact_length_prompt_hits_every_length_and_keeps_the_latest_history(length):
    tokenizer = tiny_tokenizer()
    prompt, ids = exact_length_prompt(HISTORY, tokenizer, length)
    assert len(ids) == length
    assert ids == trl_token_ids(tokenizer, prompt)  # what TRL will tokenize
    # Left-truncated history: the items present (whole or cut) are the most recent ones.
    present = [i for i in range(len(HISTORY)) if f"(#{i})" in prompt]
    assert present == list(range(len(HISTORY) - len(present), len(HISTORY))) and present


def test_exact_length_prompt_errors_are_clear():
    tokenizer = tiny_tokenizer()
    with pytest.raises(ValueError, match="--prompt-tokens 32 is too small"):
        exact_length_prompt(HISTORY, tokenizer, 32)
    with pytest.raises(ValueError, match="fewer than 5000 prompt tokens"):
        exact_length_prompt(HISTORY[:3], tokenizer, 5000)


def test_bump_side_gets_exact_lengths_and_adamw_through_real_options():
    settings = BenchSettings(model="tiny-random-llama", judge="tiny-random-encoder", completion_tokens=6, learning_rate=3e-4)
    workload = Workload(settings, ["u0", "u1"], ["p", "q"], [[5, 6], [7, 8]], [["a"], ["b"]])
    module = build_bump_module(workload)
    assert module.sampling.min_new_tokens == module.sampling.max_new_tokens == 6
    optimizer = module.configure_optimizers()
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.param_groups[0]["lr"] == 3e-4 and optimizer.param_groups[0]["weight_decay"] == 0.0
    trainable = {id(p) for p in module.parameters() if p.requires_grad}
    assert {id(p) for p in optimizer.param_groups[0]["params"]} == trainable and trainable
