"""Benchmark: the GRPO update with ``selected_log_softmax`` vs the plain tensor expression it replaced.

    python bench/selected_log_softmax.py     # MovieLens' shape: U=8 prompts of 252 tokens, G=4, T=32, SmolLM2-135M + LoRA r16
    python bench/selected_log_softmax.py --model tiny-random-llama --prompt-tokens 32 --new-tokens 4 --repeats 1

The baseline, :func:`expression_log_softmax`, is the chain autograd builds from tensor ops (divide,
``logsumexp``, ``gather``; ``exp`` and a product for the entropy), in chunks of 8 completion rows
as bump-pl computed it before. Each path in turn is patched into ``bump_pl.rl.logprobs`` and
runs the same :func:`~bump_pl.rl.policy_update.policy_update` on the same rollouts:
``--repeats`` times each, alternating in one process after a warm-up, for the exact gradient
(``prompt_gradients`` true, the shipped configs) and with the prompts' keys and values as
constants (false). Also the log-softmax alone, forward and backward, on ``[U*G*T, V]`` random
logits. Prints median seconds, the ratios fused / expression, the largest difference between the
two paths' log-probs and LoRA gradients, and one JSON line with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor

from bump_pl.rl.selected_log_softmax import selected_log_softmax

PATHS = ("expression", "fused")


def expression_log_softmax(
    logits: Tensor, tokens: Tensor, temperature: float = 1.0, *, with_entropy: bool = False, chunk_rows: int | None = None
) -> tuple[Tensor, Tensor | None]:
    """The baseline: ``selected_log_softmax``'s values as autograd's chain of tensor ops, 256 rows (8 completions of 32 tokens) at a time."""
    rows = chunk_rows or 8 * 32
    pieces, entropies = [], []
    for start in range(0, logits.shape[0], rows):
        scaled = logits[start : start + rows].float() / temperature
        normaliser = scaled.logsumexp(-1)
        pieces.append(scaled.gather(-1, tokens[start : start + rows, None]).squeeze(-1) - normaliser)
        if with_entropy:
            with torch.no_grad():
                log_p = scaled - normaliser[:, None]
                entropies.append(-(log_p.exp() * log_p).sum(-1))
    return torch.cat(pieces), torch.cat(entropies) if with_entropy else None


IMPLEMENTATIONS = {"expression": expression_log_softmax, "fused": selected_log_softmax}


def kernel_peak_mb(path: str, rows: int, vocab: int) -> float:
    """Peak resident memory (MB, Linux's ``VmHWM``) of a fresh process that runs ``path``'s forward and
    backward on ``[rows, vocab]`` random logits, less its peak after a small warm-up call
    (``ru_maxrss`` would carry this process's peak over ``execve``)."""
    code = (
        "import re, sys, torch; sys.path.insert(0, sys.argv[1]); import selected_log_softmax as b;"
        "peak = lambda: int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) / 1024;"
        "logits = torch.randn(int(sys.argv[3]), int(sys.argv[4])).requires_grad_(); tokens = torch.zeros(logits.shape[0], dtype=torch.long);"
        "run = lambda x, t: b.IMPLEMENTATIONS[sys.argv[2]](x, t, 1.0, with_entropy=True)[0].sum().backward();"
        "run(torch.randn(8, 64, requires_grad=True), tokens[:8]);"  # loads the kernels' code before the baseline
        "before = peak(); run(logits, tokens);"
        "print(peak() - before)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).resolve().parent), path, str(rows), str(vocab)],
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    # the models' imports (transformers, peft) stay here: kernel_peak_mb's process imports this file
    from rollout_prefill import add_rollout_shape_arguments, user_history_prompts

    import bump_pl.rl.logprobs as logprobs
    from bump_pl.core.grpo import GRPOSettings
    from bump_pl.models.loading import load_causal_lm, load_tokenizer
    from bump_pl.models.lora import LoraSettings
    from bump_pl.models.merged_lora import merged_lora
    from bump_pl.models.policy import build_policy
    from bump_pl.models.rollout import SamplingSettings, generate_rollouts
    from bump_pl.rl.policy_update import policy_update

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_rollout_shape_arguments(parser)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    tokenizer = load_tokenizer(args.model)
    policy = build_policy(load_causal_lm(args.model), LoraSettings(rank=16, alpha=32.0, dropout=0.0))
    ids, mask = user_history_prompts(tokenizer, args.users, args.prompt_tokens)
    torch.manual_seed(0)
    with merged_lora(policy):
        settings = SamplingSettings(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens)
        rollouts = generate_rollouts(policy, tokenizer, ids, mask, group_size=args.group_size, settings=settings, keep_prompt_kv=True)
    rollouts = replace(rollouts, advantages=torch.randn(rollouts.completion_ids.shape[0], generator=torch.Generator().manual_seed(1)))
    policy.train()

    def update(path: str, prompt_gradients: bool) -> tuple[float, Tensor, Tensor]:
        logprobs.selected_log_softmax = IMPLEMENTATIONS[path]
        policy.zero_grad(set_to_none=True)
        start = time.perf_counter()
        result = policy_update(policy, rollouts, GRPOSettings(), max_new_tokens=args.new_tokens, budget_tokens=0, prompt_gradients=prompt_gradients)
        elapsed = time.perf_counter() - start
        grads = torch.cat([p.grad.flatten() for p in policy.parameters() if p.grad is not None])
        return elapsed, result.loss, grads

    def kernel(path: str) -> float:
        gen = torch.Generator().manual_seed(2)
        logits = torch.randn(rollouts.completion_ids.numel(), policy.config.vocab_size, generator=gen).requires_grad_()
        tokens = rollouts.completion_ids.flatten()
        start = time.perf_counter()
        logps, _ = IMPLEMENTATIONS[path](logits, tokens, 1.0, with_entropy=True)
        logps.sum().backward()
        return time.perf_counter() - start

    cases = {"update_exact": lambda path: update(path, True)[0], "update_constant_prompts": lambda path: update(path, False)[0], "log_softmax": kernel}
    for path in PATHS:  # warm-up: first calls pay one-off setup costs
        for run in cases.values():
            run(path)
    seconds: dict[str, dict[str, list[float]]] = {case: {path: [] for path in PATHS} for case in cases}
    for _ in range(args.repeats):
        for case, run in cases.items():
            for path in PATHS:
                seconds[case][path].append(run(path))
    (_, loss_a, grads_a), (_, loss_b, grads_b) = update("expression", True), update("fused", True)
    logprobs.selected_log_softmax = selected_log_softmax

    medians = {case: {path: statistics.median(values) for path, values in by_path.items()} for case, by_path in seconds.items()}
    figures = {
        "model": args.model,
        "shape": {"users": args.users, "prompt_tokens": args.prompt_tokens, "group_size": args.group_size, "new_tokens": args.new_tokens},
        "vocab": policy.config.vocab_size,
        "torch_threads": torch.get_num_threads(),
        "seconds": {case: {path: [round(s, 5) for s in values] for path, values in by_path.items()} for case, by_path in seconds.items()},
        "median_s": {case: {path: round(m, 5) for path, m in by_path.items()} for case, by_path in medians.items()},
        "ratio": {case: round(by_path["fused"] / by_path["expression"], 3) for case, by_path in medians.items()},
        "kernel_peak_mb": {path: round(kernel_peak_mb(path, rollouts.completion_ids.numel(), policy.config.vocab_size), 1) for path in PATHS},
        "loss_diff": float((loss_a - loss_b).abs()),
        "grad_max_diff": float((grads_a - grads_b).abs().max()),
        "grad_max_abs": float(grads_a.abs().max()),
    }
    print(f"{'case':<26}{'expression s':>14}{'fused s':>10}{'ratio':>8}")
    for case, by_path in medians.items():
        print(f"{case:<26}{by_path['expression']:>14.2f}{by_path['fused']:>10.2f}{figures['ratio'][case]:>8.3f}")
    print(f"log-softmax alone, peak memory above the logits (MB): {figures['kernel_peak_mb']}")
    print(f"LoRA gradients: largest difference {figures['grad_max_diff']:.2e} (largest entry {figures['grad_max_abs']:.2e})")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
