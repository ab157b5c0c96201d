"""The likelihood judge's training-step call: float32 vs bfloat16, every user vs a sample of negative users.

One BUMP step with the likelihood judge scores ``U*G`` profiles against ``U*K`` held-out items
(:func:`bump_pl.judges.in_batch.in_batch_scores`, one symmetric matrix for both directions). This
script times that call in four settings in one run, interleaved (each repeat runs every setting
once, so a slow spell of the machine hits all of them), after one warm-up call each:

- ``float32`` and ``bfloat16`` judge weights (``model.judge.init_args.dtype``);
- every pair, and each user against ``--negative_users`` others (``model.reward.negative_users``).

It also says what bfloat16 changes: the correlation of its scores with float32's and their largest
difference over the scored pairs, and the correlation of the margin reward per rollout (what GRPO
sees). The judge (template, scored span) and the held-out items' template are ``--overlay``'s
(``experiments/overlays/likelihood_rating.yaml``). Texts: with ``--data_dir`` (a LaMP-format
MovieLens folder) the held-out items are the dev users' last ``K`` ratings and each profile is the
user's ratings before them, the most recent ``--profile_tokens`` tokens (``history_text``, the
``history_budget`` baseline); without it, random words of those lengths.

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
import yaml

from bump_pl.core.baselines import history_text
from bump_pl.core.margin import margin_reward
from bump_pl.data.item_template import ItemTemplate
from bump_pl.judges import LikelihoodJudge
from bump_pl.judges.in_batch import in_batch_scores

OVERLAY = Path(__file__).resolve().parents[1] / "experiments" / "overlays" / "likelihood_rating.yaml"
WORDS = "the user enjoys drama comedy action thriller classic films rates generous harsh often rarely high low".split()


def movielens_texts(data_dir: Path, template: ItemTemplate, users: int, group_size: int, heldout: int,
                    profile_tokens: int, tokenizer) -> tuple[list[str], list[str]]:
    """``(U*G profiles, U*K items)`` of the first ``users`` dev users with more than ``K`` ratings,
    every item written by ``template``."""
    profiles, items = [], []
    for user in json.loads((data_dir / "dev_questions.json").read_text(encoding="utf-8")):
        history = [template.render(item) for item in user["profile"]]
        if len(history) <= heldout:
            continue
        items += history[-heldout:]
        profiles += [history_text(history[:-heldout], tokenizer, profile_tokens)] * group_size
        if len(items) == users * heldout:
            return profiles, items
    raise SystemExit(f"bench/likelihood_judge.py: error: {data_dir} has fewer than {users} dev users with > {heldout} ratings")


def random_texts(users: int, group_size: int, heldout: int, profile_tokens: int, scored_after: str,
                 rng: random.Random) -> tuple[list[str], list[str]]:
    """``(U*G profiles, U*K items)`` of random words, items ending ``{scored_after} N``."""
    profiles = [" ".join(rng.choice(WORDS) for _ in range(profile_tokens)) for _ in range(users * group_size)]
    items = [f"{' '.join(rng.choice(WORDS) for _ in range(8))}{scored_after} {rng.randint(1, 5)}" for _ in range(users * heldout)]
    return profiles, items


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--overlay", type=Path, default=OVERLAY, help="the judge's overlay (model.judge, data.heldout_template)")
    parser.add_argument("--model", default=None, help="the judge's model (default: the overlay's)")
    parser.add_argument("--data_dir", type=Path, default=None, help="LaMP-format MovieLens folder (default: random words)")
    parser.add_argument("--users", type=int, default=8, help="U")
    parser.add_argument("--samples", type=int, default=4, help="G, profiles per user")
    parser.add_argument("--heldout", type=int, default=2, help="K, held-out items per user")
    parser.add_argument("--profile_tokens", type=int, default=48)
    parser.add_argument("--negative_users", type=int, default=3, help="m, other users per user in the sampled settings")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per setting")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    overlay = yaml.safe_load(args.overlay.read_text(encoding="utf-8"))
    judge_args = {**overlay["model"]["judge"]["init_args"], **({"model": args.model} if args.model else {})}
    judges = {dtype: LikelihoodJudge(**{**judge_args, "dtype": dtype}) for dtype in ("float32", "bfloat16")}
    tokenizer = judges["float32"].tokenizer
    if args.data_dir is not None:
        template = ItemTemplate(**overlay["data"]["heldout_template"])
        profiles, items = movielens_texts(args.data_dir, template, args.users, args.samples, args.heldout,
                                          args.profile_tokens, tokenizer)
    else:
        profiles, items = random_texts(args.users, args.samples, args.heldout, args.profile_tokens,
                                       judge_args["scored_after"], random.Random(args.seed))
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
        "model": judge_args["model"], "texts": "movielens" if args.data_dir else "random", "threads": torch.get_num_threads(),
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
