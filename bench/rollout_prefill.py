"""Benchmark: naive rollouts (``generate`` on G copies of each prompt) vs shared-prompt prefill.

    python bench/rollout_prefill.py --model smollm2-135m-instruct
    python bench/rollout_prefill.py --model tiny-random-llama --prompt-tokens 64 --group-size 2 --new-tokens 4

Greedy decoding, so both paths must produce identical tokens (``equal``). Both timings come from
the same process with perf_counter; the last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from bump_pl.models.loading import load_causal_lm, load_tokenizer
from bump_pl.models.rollout import SamplingSettings, generate_rollouts


def user_history_prompts(tokenizer, users: int, prompt_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``[U, P]`` prompts of exactly ``prompt_tokens`` tokens of synthetic LaMP-like history."""
    rows = []
    for u in range(users):
        lines = [f"User {u} rated movie #{(u * 7919 + i * 104729) % 9973} with {1 + (u + i) % 5} stars." for i in range(4 * prompt_tokens)]
        text = "Write a short profile of this user.\n" + "\n".join(lines)
        ids = tokenizer(text, add_special_tokens=False).input_ids[:prompt_tokens]
        if len(ids) < prompt_tokens:
            raise ValueError(f"synthetic history too short: {len(ids)} < {prompt_tokens} tokens")
        rows.append(ids)
    ids = torch.tensor(rows)
    return ids, torch.ones_like(ids)


def add_rollout_shape_arguments(parser: argparse.ArgumentParser, *, users: int = 8, prompt_tokens: int = 252,
                                group_size: int = 4, new_tokens: int = 32) -> None:
    """``--model --users --prompt-tokens --group-size --new-tokens``; the defaults are MovieLens' shape."""
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--users", type=int, default=users, help="prompts U")
    parser.add_argument("--prompt-tokens", type=int, default=prompt_tokens)
    parser.add_argument("--group-size", type=int, default=group_size, help="samples G per prompt")
    parser.add_argument("--new-tokens", type=int, default=new_tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_rollout_shape_arguments(parser, users=1, prompt_tokens=1024, group_size=8, new_tokens=64)
    args = parser.parse_args()

    model = load_causal_lm(args.model).eval()
    tokenizer = load_tokenizer(args.model)
    ids, mask = user_history_prompts(tokenizer, args.users, args.prompt_tokens)
    settings = SamplingSettings(max_new_tokens=args.new_tokens, greedy=True)
    for share in (False, True):  # warm-up: first calls pay one-off setup costs
        generate_rollouts(model, tokenizer, ids[:1, -8:], mask[:1, -8:], group_size=1, settings=SamplingSettings(2, greedy=True), share_prompt=share)

    timings, outputs = {}, {}
    for name, share in (("naive", False), ("shared", True)):
        start = time.perf_counter()
        outputs[name] = generate_rollouts(model, tokenizer, ids, mask, group_size=args.group_size, settings=settings, share_prompt=share)
        timings[name] = time.perf_counter() - start
    equal = torch.equal(outputs["naive"].completion_ids, outputs["shared"].completion_ids)
    generated = int(outputs["shared"].completion_mask.sum())
    figures = {
        "model": args.model,
        "users": args.users,
        "prompt_tokens": args.prompt_tokens,
        "group_size": args.group_size,
        "new_tokens": args.new_tokens,
        "generated_tokens": generated,
        "torch_threads": torch.get_num_threads(),
        "naive_s": round(timings["naive"], 3),
        "shared_s": round(timings["shared"], 3),
        "speedup": round(timings["naive"] / timings["shared"], 2),
        "equal": equal,
    }
    print(f"{'path':<8}{'seconds':>10}{'tokens/s':>10}")
    for name in ("naive", "shared"):
        print(f"{name:<8}{timings[name]:>10.2f}{generated / timings[name]:>10.1f}")
    print(f"U={args.users} P={args.prompt_tokens} G={args.group_size} T={args.new_tokens}: speedup x{figures['speedup']}, equal={equal}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
