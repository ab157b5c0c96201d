"""BUMP's pieces without BumpModule or a Trainer: how well a judge matches users to their held-out
interactions when each user's "profile" is a snippet of their own recent history.

This is the bar a trained profile has to clear (``val/ndcg_history_budget`` in ``bump fit``), built
from the reusable parts alone: ``BumpDataModule`` makes in-batch user groups (context + K held-out
interactions per user), a judge scores both directions (``in_batch_scores``), the bidirectional
reward turns the scores into per-user NDCG, and ``MultiPositiveNDCG`` (a torchmetrics ``Metric``)
accumulates the same NDCG over batches. ``--profile oracle`` uses the held-out items themselves: the
judge's ceiling on this data.

    python examples/history_as_profile.py --data-dir ../shared/data/movielens-rating --budget 32
    python examples/history_as_profile.py --synthetic-users 48 --judge all-minilm-l6-v2

The last printed line is one JSON object: per direction, the metric's NDCG and the reward's mean.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import torch

from bump_pl.core.baselines import history_text
from bump_pl.core.reward import bidirectional_reward, same_user_mask
from bump_pl.data import BumpDataModule
from bump_pl.data.synthetic import SyntheticUsers
from bump_pl.judges import EmbeddingJudge
from bump_pl.judges.in_batch import in_batch_scores
from bump_pl.metrics import MultiPositiveNDCG
from bump_pl.models import load_tokenizer

DIRECTIONS = ("profile_to_item", "item_to_profile")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data-dir", help="a LaMP-format folder (train/dev questions and outputs)")
    source.add_argument("--synthetic-users", type=int, default=48, help="else: this many synthetic LaMP_3 users")
    parser.add_argument("--judge", default="all-minilm-l6-v2", help="EmbeddingJudge model: alias, folder or Hub id")
    parser.add_argument("--tokenizer", default="smollm2-135m-instruct", help="counts the profile budget")
    parser.add_argument("--budget", type=int, default=32, help="profile length in --tokenizer tokens")
    parser.add_argument("--profile", choices=("history", "oracle"), default="history")
    parser.add_argument("--users-per-batch", type=int, default=8)
    parser.add_argument("--heldout-per-user", type=int, default=2)
    parser.add_argument("--batches", type=int, default=4, help="validation batches scored (at most)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, judge: Any = None) -> dict[str, dict[str, float]]:
    """Score ``--batches`` validation batches; returns ``{direction: {"metric": .., "reward": ..}}``.

    ``judge`` replaces ``--judge`` with a ready judge object (the test passes a tiny random one).
    """
    args = parse_args(argv)
    tokenizer = load_tokenizer(args.tokenizer)
    synthetic = None if args.data_dir else SyntheticUsers(num_users=args.synthetic_users, items_per_user=12)
    data = BumpDataModule(
        data_dir=args.data_dir, synthetic=synthetic, tokenizer=tokenizer, users_per_batch=args.users_per_batch,
        heldout_per_user=args.heldout_per_user, min_context_items=2, rank=0, world_size=1,
    )
    data.setup("validate")
    judge = judge if judge is not None else EmbeddingJudge(model=args.judge)
    metrics = {direction: MultiPositiveNDCG() for direction in DIRECTIONS}
    reward_sums = dict.fromkeys(DIRECTIONS, 0.0)
    users_seen = 0
    for index, batch in enumerate(data.val_dataloader()):
        if index == args.batches:
            break
        num_users, k = len(batch.user_ids), len(batch.heldout[0])
        if args.profile == "oracle":
            profiles = ["\n".join(items) for items in batch.heldout]
        else:
            profiles = [history_text(context, tokenizer, args.budget) for context in batch.context]
        items = [item for user_items in batch.heldout for item in user_items]
        scores = in_batch_scores(judge, profiles, items, num_users=num_users)
        # The reward's view: one rollout per user (G = 1), its NDCG in each direction.
        reward = bidirectional_reward(
            scores.profile_to_item, scores.item_to_profile, num_users=num_users, group_size=1, heldout_per_user=k
        )
        # The metric's view: every query of the batch with its relevant candidates.
        metrics["profile_to_item"].update(scores.profile_to_item, same_user_mask(0, num_users, 1, num_users, k))
        metrics["item_to_profile"].update(scores.item_to_profile, same_user_mask(0, num_users, k, num_users, 1))
        for direction in DIRECTIONS:
            reward_sums[direction] += float(getattr(reward, direction).sum())
        users_seen += num_users
    if users_seen == 0:
        raise SystemExit("history_as_profile: no validation batch (too few users for --users-per-batch)")
    result = {
        direction: {"metric": float(metrics[direction].compute()), "reward": reward_sums[direction] / users_seen}
        for direction in DIRECTIONS
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    with torch.inference_mode():
        main()
