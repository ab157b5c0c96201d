"""Time the core math: multi-positive NDCG and the bidirectional reward, vectorised vs a Python loop.

For each user count ``U`` (``G`` rollouts and ``K`` held-out interactions per user) the NDCG is
timed on the profile_to_item matrix ``[U*G, U*K]`` and the reward on both matrices. The naive
reference loops in Python over queries (NDCG) or over rollouts and their interactions (reward,
with the explicit candidate list of each item_to_profile query), scoring one row at a time; its
results are checked against the vectorised ones. Prints a table; the last line is one JSON
object with every figure.

    python bench/core.py                       # U = 64 and 256, G = 8, K = 4
    python bench/core.py --users 4 --repeats 1 # smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor

from bump_pl.metrics.functional import multi_positive_ndcg
from bump_pl.core.reward import bidirectional_reward


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after one warm-up, in milliseconds."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def naive_ndcg(scores: Tensor, relevant: Tensor) -> Tensor:
    """``[Q]``: one query row at a time."""
    return torch.cat([multi_positive_ndcg(scores[i : i + 1], relevant[i : i + 1]) for i in range(len(scores))])


def naive_reward(p2i: Tensor, i2p: Tensor, users: int, group: int, heldout: int) -> Tensor:
    """``[U*G]`` total reward (alpha 0.5), one rollout and one item_to_profile candidate list at a time."""
    totals = []
    item_user = torch.arange(users * heldout) // heldout
    rollout_user = torch.arange(users * group) // group
    for r in range(users * group):
        u = r // group
        to_items = multi_positive_ndcg(p2i[r : r + 1], (item_user == u)[None])
        candidates = torch.cat([torch.tensor([r]), torch.nonzero(rollout_user != u).flatten()])
        truth = torch.zeros(1, len(candidates), dtype=torch.bool)
        truth[0, 0] = True
        to_profile = torch.cat(
            [multi_positive_ndcg(i2p[j, candidates][None], truth) for j in range(u * heldout, (u + 1) * heldout)]
        ).mean()
        totals.append(0.5 * to_items[0] + 0.5 * to_profile)
    return torch.stack(totals)


def bench_users(users: int, group: int, heldout: int, repeats: int, seed: int) -> dict[str, float]:
    """Figures for one user count: vectorised and naive times (ms), speed-ups, max difference."""
    gen = torch.Generator().manual_seed(seed)
    p2i = torch.randn(users * group, users * heldout, generator=gen)
    i2p = torch.randn(users * heldout, users * group, generator=gen)
    relevant = (torch.arange(users * group)[:, None] // group) == (torch.arange(users * heldout)[None, :] // heldout)
    sizes = dict(num_users=users, group_size=group, heldout_per_user=heldout)

    def fast_reward() -> Tensor:
        return bidirectional_reward(p2i, i2p, **sizes).total

    ndcg_ms = median_ms(lambda: multi_positive_ndcg(p2i, relevant), repeats)
    reward_ms = median_ms(fast_reward, repeats)
    naive_repeats = max(1, repeats // 5)
    ndcg_naive_ms = median_ms(lambda: naive_ndcg(p2i, relevant), naive_repeats)
    reward_naive_ms = median_ms(lambda: naive_reward(p2i, i2p, users, group, heldout), naive_repeats)
    diff = max(
        float((multi_positive_ndcg(p2i, relevant) - naive_ndcg(p2i, relevant)).abs().max()),
        float((fast_reward() - naive_reward(p2i, i2p, users, group, heldout)).abs().max()),
    )
    return {
        "users": users,
        "ndcg_ms": ndcg_ms,
        "ndcg_naive_ms": ndcg_naive_ms,
        "ndcg_speedup": ndcg_naive_ms / ndcg_ms,
        "reward_ms": reward_ms,
        "reward_naive_ms": reward_naive_ms,
        "reward_speedup": reward_naive_ms / reward_ms,
        "max_abs_diff": diff,
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[64, 256], help="user counts U to time")
    parser.add_argument("--group-size", type=int, default=8, help="G rollouts per user")
    parser.add_argument("--heldout", type=int, default=4, help="K held-out interactions per user")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per figure (naive: a fifth)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.users) < 1 or args.group_size < 1 or args.heldout < 1 or args.repeats < 1:
        parser.error("--users, --group-size, --heldout and --repeats must be positive")
    torch.set_num_threads(args.threads)

    rows = [bench_users(u, args.group_size, args.heldout, args.repeats, args.seed) for u in args.users]
    header = (
        f"{'U':>5} {'ndcg ms':>9} {'naive ms':>9} {'x':>6} {'reward ms':>10} {'naive ms':>9} {'x':>6} {'max diff':>9}"
    )
    print(f"G={args.group_size} K={args.heldout} threads={args.threads} torch={torch.__version__}")
    print(header)
    for row in rows:
        print(
            f"{row['users']:>5} {row['ndcg_ms']:>9.3f} {row['ndcg_naive_ms']:>9.1f} {row['ndcg_speedup']:>6.0f} "
            f"{row['reward_ms']:>10.3f} {row['reward_naive_ms']:>9.1f} {row['reward_speedup']:>6.0f} "
            f"{row['max_abs_diff']:>9.1e}"
        )
    figures: dict[str, object] = {
        "bench": "core",
        "group_size": args.group_size,
        "heldout": args.heldout,
        "threads": args.threads,
        "torch": torch.__version__,
        "results": rows,
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
