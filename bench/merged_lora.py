"""Benchmark: rollouts from a LoRA policy with the adapters folded in (``merged_lora``) vs the adapter path.

    python bench/merged_lora.py       # MovieLens' shape: U=8 prompts of 252 tokens, G=4, T=32, SmolLM2-135M + LoRA r16
    python bench/merged_lora.py --model tiny-random-llama --prompt-tokens 32 --new-tokens 4 --repeats 1

The two paths alternate in one process (``--repeats`` times each, after a warm-up of both), so a
drifting machine slows both alike. Both sample at temperature 1 from the same seed with stop tokens
forbidden until ``--new-tokens`` (``min_new_tokens``), so both do the same work. The adapter's
``B`` is random (a fresh one is zero, and folding zero would hide a wrong fold), so ``equal`` also
says whether float rounding changed a sampled token. Prints median seconds, the ratio folded /
adapter, what entering and leaving the context costs, and one JSON line with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import nullcontext

import torch
from rollout_prefill import add_rollout_shape_arguments, user_history_prompts

from bump_pl.models.loading import load_causal_lm, load_tokenizer
from bump_pl.models.lora import LoraSettings
from bump_pl.models.merged_lora import merged_lora
from bump_pl.models.policy import build_policy
from bump_pl.models.rollout import SamplingSettings, generate_rollouts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_rollout_shape_arguments(parser)
    parser.add_argument("--rank", type=int, default=16, help="LoRA rank (all linear layers, alpha = 2 x rank)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    tokenizer = load_tokenizer(args.model)
    policy = build_policy(load_causal_lm(args.model), LoraSettings(rank=args.rank, alpha=2.0 * args.rank, dropout=0.0)).eval()
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.01, generator=torch.Generator().manual_seed(0))
    ids, mask = user_history_prompts(tokenizer, args.users, args.prompt_tokens)
    settings = SamplingSettings(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens)

    def rollouts(folded: bool, ids: torch.Tensor, mask: torch.Tensor, settings: SamplingSettings):
        torch.manual_seed(0)
        start = time.perf_counter()
        with merged_lora(policy) if folded else nullcontext(False) as did_fold:
            out = generate_rollouts(policy, tokenizer, ids, mask, group_size=args.group_size, settings=settings)
        if did_fold != folded:
            raise SystemExit("bench/merged_lora.py: error: this policy cannot be folded (see bump_pl.models.merged_lora)")
        return time.perf_counter() - start, out.completion_ids

    for folded in (False, True):  # warm-up of both paths: first calls pay one-off setup costs
        rollouts(folded, ids[:1, -8:], mask[:1, -8:], SamplingSettings(2))
    seconds: dict[str, list[float]] = {"adapter": [], "folded": []}
    tokens = {}
    for _ in range(args.repeats):
        for name in ("adapter", "folded"):
            elapsed, tokens[name] = rollouts(name == "folded", ids, mask, settings)
            seconds[name].append(elapsed)
    start = time.perf_counter()
    with merged_lora(policy):
        fold_s = time.perf_counter() - start
    fold_and_restore_s = time.perf_counter() - start
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    figures = {
        "model": args.model,
        "shape": {"users": args.users, "prompt_tokens": args.prompt_tokens, "group_size": args.group_size, "new_tokens": args.new_tokens},
        "lora_rank": args.rank,
        "torch_threads": torch.get_num_threads(),
        "seconds": {name: [round(s, 3) for s in values] for name, values in seconds.items()},
        "adapter_s": round(medians["adapter"], 3),
        "folded_s": round(medians["folded"], 3),
        "ratio": round(medians["folded"] / medians["adapter"], 3),
        "fold_and_restore_s": round(fold_and_restore_s, 4),
        "fold_s": round(fold_s, 4),
        "equal": torch.equal(tokens["adapter"], tokens["folded"]),
    }
    print(f"{'path':<9}{'median s':>10}  runs")
    for name, values in seconds.items():
        print(f"{name:<9}{medians[name]:>10.2f}  {', '.join(f'{v:.2f}' for v in values)}")
    print(f"folded / adapter x{figures['ratio']}; folding and restoring {figures['fold_and_restore_s']:.3f} s; tokens equal: {figures['equal']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
