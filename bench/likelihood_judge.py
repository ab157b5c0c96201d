"""The likelihood judge's training-step call: float32 vs bfloat16, every user vs a sample of negative users.

One BUMP step with the likelihood judge scores ``U*G`` profiles against ``U*K`` held-out items
(:func:`bump_pl.judges.in_batch.in_batch_scores`, one symmetric matrix for both directions). This
script times that call in four settings in one run, interleaved (each repeat runs every setting
once, so a slow spell of the machine hits all of them), after one warm-up call each:

- ``float32`` and ``bfloat16`` judge weights (``model.judge.init_args.dtype``);
- every pair, and each user against ``--negative_users`` others (``model.reward.negative_users``).

It also says what bfloat16 changes: the correlation of its scores with float32's and their largest
difference over the scored pairs, and the correlation of the margin reward per rollout (what GRPO
sees). Texts: with ``--data_dir`` (a LaMP-format MovieLens folder) the held-out items are the dev
users' last ``K`` ratings written as ``likelihood_rating.yaml`` writes them and each profile is the
user's ratings before them, cut to ``--profile_tokens``; without it, random words of those lengths.

    HF_HUB_OFFLINE=1 python bench/likelihood_judge.py --data_dir ../shared/data/movielens-rating
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import torch

from bump_pl.core.margin import margin_reward
from bump_pl.judges import LikelihoodJudge
from bump_pl.judges.in_batch import in_batch_scores

TEMPLATE = "Profile of a movie watcher:\n{profile}\n\nA movie this user rated from 1 to 5:\n{item}"
WORDS = "the user enjoys drama comedy action thriller classic films rates generous harsh often rarely high low".split()


def movielens_texts(data_dir: Path, users: int, group_size: int, heldout: int, profile_tokens: int,
                    tokenizer) -> tuple[list[str], list[str]]:
    """``(U*G profiles, U*K items)`` of the first ``users`` dev users with more than ``K`` ratings."""
    profiles, items = [], []
    for user in json.loads((data_dir / "dev_questions.json").read_text(encoding="utf-8")):
        history = user["profile"]
        if len(history) <= heldout:
            continue
        items += [f"{it['title']} ({it['genres']}): rated {it['score']}" for it in history[-heldout:]]
        text = "\n".join(f"{it['title']}: {it['score']}" for it in reversed(history[:-heldout]))
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][:profile_tokens]
        profiles += [tokenizer.decode(ids)] * group_size
        if len(items) == users * heldout:
            return profiles, items
    raise SystemExit(f"bench/likelihood_judge.py: error: {data_dir} has fewer than {users} dev users with > {heldout} ratings")


def random_texts(users: int, group_size: int, heldout: int, profile_tokens: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """``(U*G profiles, U*K items)`` of random words, items ending ``: rated N``."""
    profiles = [" ".join(rng.choice(WORDS) for _ in range(profile_tokens)) for _ in range(users * group_size)]
    items = [f"{' '.join(rng.choice(WORDS) for _ in range(8))}: rated {rng.randint(1, 5)}" for _ in range(users * heldout)]
    return profiles, items


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="alias, folder, GGUF path or Hub id")
    parser.add_argument("--data_dir", type=Path, default=None, help="LaMP-format MovieLens folder (default: random words)")
    parser.add_argument("--users", type=int, default=8, help="U")
    parser.add_argument("--samples", type=int, default=4, help="G, profiles per user")
    parser.add_argument("--heldout", type=int, default=2, help="K, held-out items per user")
    parser.add_argument("--profile_tokens", type=int, default=48)
    parser.add_argument("--negative_users", type=int, default=3, help="m, other users per user in the sampled settings")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per setting")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    judges = {dtype: LikelihoodJudge(args.model, template=TEMPLATE, scored_after=": rated", dtype=dtype)
              for dtype in ("float32", "bfloat16")}
    tokenizer = judges["float32"].tokenizer
    if args.data_dir is not None:
        profiles, items = movielens_texts(args.data_dir, args.users, args.samples, args.heldout, args.profile_tokens, tokenizer)
    else:
        profiles, items = random_texts(args.users, args.samples, args.heldout, args.profile_tokens, random.Random(args.seed))
    settings = [(dtype, m) for dtype in judges for m in (0, args.negative_users)]

    def call(dtype: str, m: int):
        return in_batch_scores(judges[dtype], profiles, items, num_users=args.users, negative_users=m)

    scores = {setting: call(*setting) for setting in settings}  # warm-up, and the scores compared below
    seconds: dict[tuple[str, int], list[float]] = {setting: [] for setting in settings}
    for _ in range(args.repeats):
        for setting in settings:
            start = time.perf_counter()
            call(*setting)
            seconds[setting].append(time.perf_counter() - start)

    full32, full16 = scores[("float32", 0)].profile_to_item, scores[("bfloat16", 0)].profile_to_item
    margins = [margin_reward(s, s.T, num_users=args.users, group_size=args.samples, heldout_per_user=args.heldout).total
               for s in (full32, full16)]
    baseline = statistics.median(seconds[("float32", 0)])
    result: dict[str, object] = {
        "model": args.model, "texts": "movielens" if args.data_dir else "random", "threads": torch.get_num_threads(),
        "users": args.users, "group_size": args.samples, "heldout": args.heldout, "negative_users": args.negative_users,
        "pairs": {f"{d}/m={m}": int(scores[(d, m)].scored.sum()) if m else full32.numel() for d, m in settings},
        "seconds": {f"{d}/m={m}": statistics.median(seconds[(d, m)]) for d, m in settings},
        "ratio_to_float32_every_pair": {f"{d}/m={m}": statistics.median(seconds[(d, m)]) / baseline for d, m in settings},
        "bf16_score_correlation": float(torch.corrcoef(torch.stack([full32.flatten(), full16.flatten()]))[0, 1]),
        "bf16_max_abs_diff": float((full32 - full16).abs().max()),
        "score_std": float(full32.std()),
        "bf16_margin_correlation": float(torch.corrcoef(torch.stack(margins))[0, 1]),
    }
    print(f"{'setting':<16}{'pairs':>7}{'median s':>10}{'range':>16}{'ratio':>8}")
    for d, m in settings:
        key = f"{d}/m={m}"
        times = seconds[(d, m)]
        print(f"{key:<16}{result['pairs'][key]:>7}{statistics.median(times):>10.2f}"
              f"{f'{min(times):.2f}-{max(times):.2f}':>16}{result['ratio_to_float32_every_pair'][key]:>8.2f}")
    print(f"bfloat16 vs float32 scores: correlation {result['bf16_score_correlation']:.4f}, max |diff| "
          f"{result['bf16_max_abs_diff']:.3f} (score std {result['score_std']:.3f}); margin per rollout: correlation "
          f"{result['bf16_margin_correlation']:.4f}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
