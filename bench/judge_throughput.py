"""Cross-judge throughput: naive one-forward-per-pair vs shared-prefix KV reuse.

One BUMP step scores ``Q = U*G`` profiles (the long queries, ~512 tokens) against ``C = U*K``
held-out items (short candidates) with :class:`bump_pl.judges.CrossJudge`. This script times
both paths on the same synthetic texts (random words; no dataset needed), checks they agree,
prints a small table, and ends with one JSON line of its figures.

The naive path costs the same per pair whatever ``Q`` is (every pair is an independent full
sequence), so ``--naive-queries N`` may time it on the first ``N`` profiles only to save time on
slow machines; ``max_abs_diff`` is then taken over those rows.

Example::

    python bench/judge_throughput.py --model smollm2-135m-instruct --users 8 --samples 4 --heldout 2
"""

from __future__ import annotations

import argparse
import json
import random
import time

import torch

from bump_pl.judges import CrossJudge
from bump_pl.models import load_causal_lm, load_tokenizer

WORDS = (
    "the user enjoys reading science fiction novels and watching documentaries about nature history "
    "music cooking travel often prefers short stories rates highly recent films dislikes horror "
    "romance comedy thriller classic jazz rock hiking coffee mountains ocean city quiet weekend"
).split()


def synthetic_texts(tokenizer, count: int, tokens: int, rng: random.Random) -> list[str]:
    """``count`` random-word texts of about ``tokens`` tokens each (cut in token space, then decoded)."""
    texts = []
    for _ in range(count):
        words = " ".join(rng.choice(WORDS) for _ in range(2 * tokens))
        ids = tokenizer(words, add_special_tokens=False)["input_ids"][:tokens]
        texts.append(tokenizer.decode(ids))
    return texts


def timed_scores(judge: CrossJudge, queries: list[str], candidates: list[str]) -> tuple[torch.Tensor, float]:
    """``([Q, C] scores, seconds)`` for one profile-to-item scoring call."""
    start = time.perf_counter()
    scores = judge.score(queries, candidates, "profile_to_item")
    return scores, time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, float | int | str]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="alias, folder, GGUF path or Hub id")
    parser.add_argument("--users", type=int, default=8, help="U")
    parser.add_argument("--samples", type=int, default=4, help="G, profiles per user")
    parser.add_argument("--heldout", type=int, default=2, help="K, held-out items per user")
    parser.add_argument("--profile-tokens", type=int, default=512)
    parser.add_argument("--item-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8, help="prefixes encoded together (shared path)")
    parser.add_argument("--max-pairs-per-chunk", type=int, default=32)
    parser.add_argument("--naive-queries", type=int, default=0, help="time the naive path on this many profiles (0: all)")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    model = load_causal_lm(args.model, dtype=args.dtype)
    tokenizer = load_tokenizer(args.model)
    rng = random.Random(args.seed)
    profiles = synthetic_texts(tokenizer, args.users * args.samples, args.profile_tokens, rng)
    items = synthetic_texts(tokenizer, args.users * args.heldout, args.item_tokens, rng)
    naive_profiles = profiles[: args.naive_queries] if args.naive_queries else profiles
    chunks = {"batch_size": args.batch_size, "max_pairs_per_chunk": args.max_pairs_per_chunk, "dtype": args.dtype}
    shared = CrossJudge(model, tokenizer=tokenizer, share_prefix=True, **chunks)
    naive = CrossJudge(model, tokenizer=tokenizer, share_prefix=False, **chunks)
    shared.score(profiles[:1], items[:1], "profile_to_item")  # warm-up (allocator, kernels)

    shared_scores, shared_s = timed_scores(shared, profiles, items)
    naive_scores, naive_s = timed_scores(naive, naive_profiles, items)
    shared_pairs, naive_pairs = shared_scores.numel(), naive_scores.numel()
    result = {
        "model": args.model,
        "threads": torch.get_num_threads(),
        "queries": len(profiles),
        "candidates": len(items),
        "naive_queries": len(naive_profiles),
        "pairs_per_s_naive": naive_pairs / naive_s,
        "pairs_per_s_shared": shared_pairs / shared_s,
        "speedup": (shared_pairs / shared_s) / (naive_pairs / naive_s),
        "max_abs_diff": (shared_scores[: len(naive_profiles)] - naive_scores).abs().max().item(),
    }
    print(f"{'path':<8}{'pairs':>8}{'seconds':>10}{'pairs/s':>10}")
    print(f"{'naive':<8}{naive_pairs:>8}{naive_s:>10.2f}{result['pairs_per_s_naive']:>10.2f}")
    print(f"{'shared':<8}{shared_pairs:>8}{shared_s:>10.2f}{result['pairs_per_s_shared']:>10.2f}")
    print(f"speed-up {result['speedup']:.2f}x, max |shared - naive| = {result['max_abs_diff']:.2e}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
