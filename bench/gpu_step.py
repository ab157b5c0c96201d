"""Benchmark: one LaMP-shaped BUMP training step at real layer shapes, phase by phase, offline.

    python bench/gpu_step.py                       # cuda, Qwen2.5-1.5B policy, 0.5B cross judge, bf16
    python bench/gpu_step.py --device cpu --tiny   # the same step with tiny shapes (a test runs it)

The step is bump-pl's real training path: ``Trainer.fit(BumpModule)`` on one fixed batch of
``U`` users with ``P``-token prompts and ``K`` held-out items each, ``G`` rollouts of exactly
``T`` new tokens (``min_new_tokens = T``), a ``CrossJudge``, LoRA, AdamW. The models have random
weights and the layer shapes of the named presets (throughput depends on shapes, not weights),
built in-process; the tokenizer is a word-level one over the model's whole vocabulary
(``w<id>``), so any sampled id decodes and re-encodes to itself. Nothing is downloaded.

A subclass of ``BumpModule`` times its rollout (``_rollouts``), judge + reward (``_bidirectional_reward``) and
update (``_update``) calls and each training batch, synchronising CUDA around every timer; the
figures are medians over the steps after the first (warm-up). The last line printed is one JSON
object: per-phase seconds, step seconds, peak memory (GPU allocated on CUDA, process RSS on
CPU) and the settings.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import statistics
import tempfile
import time

import torch
from lightning.pytorch import Trainer
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, Qwen2Config

from _measure import peak_rss_mb

from bump_pl.data import UserGroupBatch
from bump_pl.core.grpo import GRPOSettings
from bump_pl.judges import CrossJudge
from bump_pl.models.lora import LoraSettings
from bump_pl.models.rollout import SamplingSettings
from bump_pl.module import BumpModule

# Layer shapes (Qwen2.5 model cards' config.json); "tiny" keeps the structure at toy size.
SHAPES: dict[str, dict[str, int]] = {
    "qwen2.5-1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2),
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
}
QWEN_VOCAB = 151936
TINY_VOCAB = 512
SPECIALS = ("<pad>", "<eos>", "<unk>")
PHASES = {"rollouts": "_rollouts", "judge": "_bidirectional_reward", "update": "_update"}


def word_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """Word-level tokenizer: ``<pad>``=0, ``<eos>``=1, ``<unk>``=2, then ``w3 .. w{vocab-1}``."""
    vocab = {token: i for i, token in enumerate(SPECIALS)}
    vocab.update({f"w{i}": i for i in range(len(SPECIALS), vocab_size)})
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")


def random_model(shape: str, vocab_size: int, dtype: torch.dtype) -> torch.nn.Module:
    """A random-weight Qwen2 causal LM with the layer shapes of ``shape`` (tied embeddings, as 0.5B/1.5B)."""
    config = Qwen2Config(vocab_size=vocab_size, tie_word_embeddings=True, max_position_embeddings=32768, **SHAPES[shape])
    config.eos_token_id, config.pad_token_id = 1, 0
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config, dtype=dtype)


def lamp_batch(users: int, prompt_tokens: int, heldout: int, item_tokens: int, vocab_size: int) -> UserGroupBatch:
    """``U`` users with random ``P``-token prompts and ``K`` random ``item_tokens``-word items each."""
    generator = torch.Generator().manual_seed(0)
    words = lambda n: " ".join(f"w{i}" for i in torch.randint(3, vocab_size, (n,), generator=generator).tolist())  # noqa: E731
    items = [[words(item_tokens) for _ in range(heldout)] for _ in range(users)]
    ids = torch.randint(3, vocab_size, (users, prompt_tokens), generator=generator)
    return UserGroupBatch(
        user_ids=[f"user{u}" for u in range(users)],
        prompts=[""] * users,
        heldout=items,
        context=[[words(8)] for _ in range(users)],
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
    )


class TimedBumpModule(BumpModule):
    """``BumpModule`` whose phases and training batches are timed (CUDA-synchronised)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.phase_seconds: dict[str, list[float]] = {phase: [] for phase in PHASES}
        self.step_seconds: list[float] = []

    def _sync(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def _timed(self, phase: str, call, *args, **kwargs):
        start = self._sync()
        out = call(*args, **kwargs)
        self.phase_seconds[phase].append(self._sync() - start)
        return out

    def _rollouts(self, *args, **kwargs):
        return self._timed("rollouts", super()._rollouts, *args, **kwargs)

    def _bidirectional_reward(self, *args, **kwargs):
        return self._timed("judge", super()._bidirectional_reward, *args, **kwargs)

    def _update(self, *args, **kwargs):
        return self._timed("update", super()._update, *args, **kwargs)

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        self._step_start = self._sync()

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self.step_seconds.append(self._sync() - self._step_start)


def figures_of(module: TimedBumpModule, device: torch.device) -> dict[str, float]:
    """Medians after the warm-up step, per phase and per step, and the peak memory in GB."""
    median = lambda values: round(statistics.median(values[1:] if len(values) > 1 else values), 4)  # noqa: E731
    out = {f"{phase}_s": median(module.phase_seconds[phase]) for phase in PHASES}
    out["step_s"] = median(module.step_seconds)
    if device.type == "cuda":
        out["peak_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 1e9, 2)
    else:
        out["peak_memory_gb"] = round(peak_rss_mb() * 2**20 / 1e9, 2)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes and sizes (CPU smoke run)")
    parser.add_argument("--policy", default="qwen2.5-1.5b", choices=sorted(SHAPES))
    parser.add_argument("--judge", default="qwen2.5-0.5b", choices=sorted(SHAPES))
    parser.add_argument("--users", type=int, default=16, help="U")
    parser.add_argument("--group-size", type=int, default=8, help="G")
    parser.add_argument("--heldout", type=int, default=4, help="K")
    parser.add_argument("--prompt-tokens", type=int, default=2048, help="P")
    parser.add_argument("--new-tokens", type=int, default=128, help="T (every rollout is exactly this long)")
    parser.add_argument("--item-tokens", type=int, default=100, help="words per held-out item")
    parser.add_argument("--steps", type=int, default=3, help="training steps; the first is a warm-up")
    parser.add_argument("--grad-budget-tokens", default="auto", help="'auto' (memory.py) or an int")
    parser.add_argument("--max-pairs-per-chunk", type=int, default=256, help="CrossJudge (the LaMP configs' 256)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.policy = args.judge = "tiny"
        args.users, args.group_size, args.heldout = 4, 2, 2
        args.prompt_tokens, args.new_tokens, args.item_tokens, args.steps = 32, 8, 6, 2
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_step.py: --device cuda but torch sees no CUDA device (use --device cpu --tiny)")
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    dtype_name = "bfloat16" if dtype == torch.bfloat16 else "float32"
    vocab = TINY_VOCAB if args.tiny else QWEN_VOCAB
    tokenizer = word_tokenizer(vocab)
    judge_model = random_model(args.judge, vocab, dtype)
    judge = CrossJudge(
        judge_model, tokenizer=tokenizer, yes_word="w5", no_word="w6", dtype=dtype_name,
        max_length=512, max_pairs_per_chunk=args.max_pairs_per_chunk,
    )
    with tempfile.TemporaryDirectory() as folder:
        policy = random_model(args.policy, vocab, dtype)
        policy.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        del policy
        budget = "auto" if args.grad_budget_tokens == "auto" else int(args.grad_budget_tokens)  # auto: sized at fit start
        module = TimedBumpModule(
            model=folder, judge=judge, dtype=dtype_name, lora=LoraSettings(rank=16, alpha=32, dropout=0.05),
            group_size=args.group_size,
            sampling=SamplingSettings(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens),
            grpo=GRPOSettings(), log_samples_every_n_steps=0, max_grad_norm=1.0, grad_budget_tokens=budget,
            optimizer=functools.partial(torch.optim.AdamW, lr=5e-5),
        )
    batch = lamp_batch(args.users, args.prompt_tokens, args.heldout, args.item_tokens, vocab)
    trainer = Trainer(
        accelerator=device.type, devices=1, precision="bf16-mixed" if device.type == "cuda" else "32",
        max_steps=args.steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader([batch] * args.steps, batch_size=None))
    figures = {
        **figures_of(module, device),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "policy": args.policy, "judge": args.judge, "users": args.users, "group_size": args.group_size,
        "heldout": args.heldout, "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens,
        "item_tokens": args.item_tokens, "steps": args.steps, "grad_budget_tokens": module.grad_budget_tokens,
        "torch": torch.__version__,
    }
    print(f"{'phase':<10}{'seconds':>10}")
    for phase in (*PHASES, "step"):
        print(f"{phase:<10}{figures[f'{phase}_s']:>10.3f}")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
