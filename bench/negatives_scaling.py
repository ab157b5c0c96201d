"""Hybrid vs global negatives as the population grows: W simulated ranks on one machine.

For each W in ``--worlds`` (default 1 4 16 64) the ranking holds ``W*U`` synthetic users (``U`` a
rank, ``G`` profiles and ``K`` held-out items each; each user has a taste of a few words that its
items and profiles draw from, so other users sharing words are hard negatives). Under DDP every
rank does the same judge work on its own query rows, so rank 0's is timed, in one process:

- **global**: ``judge.score(rank 0's U*G profiles, all W*U*K items)`` and
  ``judge.score(rank 0's U*K items, all W*U*G profiles)``, the per-rank work of ``in_batch_scores``.
- **hybrid**: the retriever encodes rank 0's texts (every rank encodes its own; the other ranks'
  vectors, which the all-gather would deliver, are built beforehand, untimed), ranks every
  candidate, and the cross judge scores each query's positives and ``k`` hardest negatives
  (:func:`bump_pl.judges.in_batch.hybrid_rows`, as ``in_batch_scores`` runs it).

Agreement over rank 0's ``U*G`` rollouts, hybrid against global: Spearman correlation and mean
absolute difference of the total reward (``bidirectional_reward``), and the share of GRPO
advantages (group scaling) with the same sign. The same figures for an **oracle** retriever (the
cross judge's own global scores choose the ``k`` negatives; no extra judge call) separate the two
causes of disagreement: a retriever that finds other negatives hard than the judge does, and the
NDCG over ``k`` negatives itself (the oracle's, which equals global's whenever fewer than ``k``
negatives outscore each positive). ``--sweep-k`` adds both agreements for other ``k`` at each W,
rebuilt from the global scores (the judge scores the same pairs either way; the JSON's
``hybrid_from_global_max_diff`` checks it at ``--hard-negatives``). Models: ``tiny`` (cross judge ``tiny-random-llama``,
retriever ``tiny-random-encoder``), ``demo`` (cross judge SmolLM2-135M-Instruct, retriever
all-MiniLM-L6-v2, both from their offline wheels) and ``competent`` (all-MiniLM-L6-v2 as the judge,
which ranks these users well, and :class:`WordRetriever`, a bag of words, as the retriever: a judge
that knows relevance and a cheap retriever that finds hard negatives its own way; its times mean
nothing, an embedding judge is cheap at any W). Prints a table; the last line is one JSON object.

    python bench/negatives_scaling.py --threads 1                      # tiny and demo, W = 1 4 16 64
    python bench/negatives_scaling.py --models tiny --worlds 1 4 --users 2   # smoke run
    python bench/negatives_scaling.py --models demo --device cuda --users 16 --group-size 8 --heldout 4
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version

import torch
from scipy.stats import spearmanr
from torch import Tensor

from bump_pl.core.grpo import group_advantages
from bump_pl.core.negatives import impute_from_sample, rank_unscored_last, sampled_negatives, scored_candidates
from bump_pl.core.reward import bidirectional_reward, same_user_mask
from bump_pl.judges import CrossJudge, Direction, EmbeddingJudge, Judge
from bump_pl.judges.base import Retriever, Side
from bump_pl.judges.in_batch import HybridNegatives, hybrid_rows


class WordRetriever:
    """A lexical retriever: L2-normalised counts of the text's lower-cased words hashed into ``dim``
    buckets (CRC-32). Cheap, and it finds hard negatives by shared words, not as a neural judge does."""

    symmetric = True

    def __init__(self, dim: int = 1024):
        self.dim, self.device = dim, torch.device("cpu")

    def to(self, device: str | torch.device) -> "WordRetriever":
        self.device = torch.device(device)
        return self

    def encode(self, texts: list[str], direction: Direction, side: Side) -> Tensor:
        vectors = torch.zeros(len(texts), self.dim)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                vectors[row, zlib.crc32(word.encode()) % self.dim] += 1.0
        return torch.nn.functional.normalize(vectors, dim=1).to(self.device)


def _embedding(name: str) -> Callable[[str], EmbeddingJudge]:
    return lambda device: EmbeddingJudge(name, pooling="mean", device=device)


# name -> (judge, retriever), each built on a device
MODELS: dict[str, tuple[Callable[[str], Judge], Callable[[str], Retriever]]] = {
    "tiny": (lambda device: CrossJudge("tiny-random-llama", device=device), _embedding("tiny-random-encoder")),
    "demo": (lambda device: CrossJudge("smollm2-135m-instruct", device=device), _embedding("all-minilm-l6-v2")),
    "competent": (_embedding("all-minilm-l6-v2"), lambda device: WordRetriever().to(device)),
}
VOCABULARY = (
    "jazz rock opera hiking coffee mountains ocean city novels poetry history science cooking travel films "
    "horror comedy romance thriller cycling chess gardening painting photography tea football tennis "
    "museums podcasts baking camping sailing skiing yoga theatre vinyl anime comics"
).split()


@dataclass(frozen=True)
class Population:
    """``W*U`` users' texts in rollout order: profile ``u*G + g``, item ``u*K + k``."""

    profiles: list[str]
    items: list[str]


def population(num_users: int, group: int, heldout: int, rng: random.Random) -> Population:
    """Synthetic users: each has a taste of 4 words; items use 3 of them and 1 random word, profiles
    name 3 of them and 1 random word (so the ``G`` profiles of a user differ)."""
    profiles, items = [], []
    for _ in range(num_users):
        taste = rng.sample(VOCABULARY, 4)
        items += [" ".join(rng.sample(taste, 3) + [rng.choice(VOCABULARY)]) for _ in range(heldout)]
        profiles += ["Enjoys " + ", ".join(rng.sample(taste, 3) + [rng.choice(VOCABULARY)]) for _ in range(group)]
    return Population(profiles, items)


def rank_rows(rows: Tensor, first_rows: int, total_rows: int) -> Tensor:
    """``[total_rows, C]``: rank 0's ``rows`` on top, zeros below (rows ``bidirectional_reward`` with
    ``local_users`` of rank 0 does not read)."""
    return torch.cat([rows, rows.new_zeros(total_rows - first_rows, rows.shape[1])])


def chosen_rows(full: Tensor, ranking: Tensor, positive: Tensor, k: int) -> Tensor:
    """``[Q, C]`` hybrid scores from the cross judge's ``full`` scores: each query's positives and the
    ``k`` negatives ``ranking`` puts highest, the rest ranked last. ``ranking`` = the retriever's
    similarities gives hybrid (the judge scores the same pairs, so the same values); ``ranking`` =
    ``full`` gives the **oracle**, a retriever that finds hard what the judge does."""
    return rank_unscored_last(full, scored_candidates(ranking.to(full.device), positive.to(full.device), k))


def sampled_rows(full: Tensor, ranking: Tensor, positive: Tensor, k: int, m: int, keys: Tensor) -> Tensor:
    """``[Q, C]`` hybrid scores with a sampled tail, from the cross judge's ``full`` scores: each query's
    positives, the ``k`` negatives ``ranking`` puts highest and ``m`` of the others drawn by ``keys``;
    every other entry imputed from the drawn ones (:func:`bump_pl.core.negatives.impute_from_sample`)."""
    scored = scored_candidates(ranking.to(full.device), positive.to(full.device), k)
    sampled = sampled_negatives(scored, keys, m)
    return impute_from_sample(full, scored, sampled, keys)


def mean_agreement(draws: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each figure over several draws of the sampled tail."""
    return {key: sum(draw[key] for draw in draws) / len(draws) for key in draws[0]}


def agreement(hybrid: Tensor, full: Tensor, group: int) -> dict[str, float]:
    """Spearman and mean |difference| of two ``[N]`` rewards, and the share of their group advantages
    with the same sign (0 counts as a sign). Spearman is NaN when either reward is constant (undefined)."""
    same_sign = group_advantages(hybrid, group).sign() == group_advantages(full, group).sign()
    varies = all(bool((reward != reward[0]).any()) for reward in (hybrid, full))
    rho = spearmanr(hybrid.numpy(), full.numpy()).statistic if varies else float("nan")
    return {"spearman": float(rho), "mean_abs_diff": float((hybrid - full).abs().mean()),
            "advantage_sign_agreement": float(same_sign.float().mean())}


def _synchronize() -> None:
    """Wait for queued CUDA work, so that wall time covers it."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed(function, *args):
    _synchronize()
    start = time.perf_counter()
    out = function(*args)
    _synchronize()
    return out, time.perf_counter() - start


def rank_zero_judge_phase(judge: Judge, retriever: Retriever, texts: Population, users: int, world: int,
                          group: int, heldout: int, k: int, sweep: tuple[int, ...] = (),
                          tails: tuple[tuple[int, int], ...] = (), draws: int = 8) -> dict[str, object]:
    """Rank 0's judge phase under ``global`` and ``hybrid`` for a ranking of ``world`` ranks of ``users``;
    for each ``k`` of ``sweep`` also the agreement hybrid and the oracle would reach with that many
    negatives, and for each ``(k, m)`` of ``tails`` the agreement of hybrid with ``m`` sampled
    negatives (mean over ``draws`` draws), all from the global scores (no judge call)."""
    total = users * world
    mine = {"profile_to_item": texts.profiles[: users * group], "item_to_profile": texts.items[: users * heldout]}
    others = {"profile_to_item": texts.items, "item_to_profile": texts.profiles}
    per_user = {"profile_to_item": (group, heldout), "item_to_profile": (heldout, group)}
    hybrid = HybridNegatives(retriever, k)
    full, cheap, retrieval, positive, full_s, cheap_s = {}, {}, {}, {}, 0.0, 0.0
    for direction in ("profile_to_item", "item_to_profile"):
        d: Direction = direction  # type: ignore[assignment]
        full[d], seconds = _timed(judge.score, mine[d], others[d], d)
        full_s += seconds
        candidate_vectors = retriever.encode(others[d], d, "candidate")  # the all-gather's result
        _synchronize()
        start = time.perf_counter()
        query_vectors = retriever.encode(mine[d], d, "query")
        retriever.encode(others[d][: users * per_user[d][1]], d, "candidate")  # rank 0 encodes its own candidates
        positive[d] = same_user_mask(0, users, per_user[d][0], total, per_user[d][1], query_vectors.device)
        cheap[d] = hybrid_rows(judge, hybrid, mine[d], query_vectors, candidate_vectors, positive[d],
                               lambda chosen, texts=others[d]: texts, d)
        _synchronize()
        cheap_s += time.perf_counter() - start
        retrieval[d] = query_vectors @ candidate_vectors.T
    sizes = dict(num_users=total, group_size=group, heldout_per_user=heldout, local_users=slice(0, users))

    def reward(scores: dict[str, Tensor], hard: int | None):
        return bidirectional_reward(
            rank_rows(scores["profile_to_item"], users * group, total * group),
            rank_rows(scores["item_to_profile"], users * heldout, total * heldout),
            **sizes, hard_negatives=hard,
        )

    global_reward, hybrid_reward = reward(full, None), reward(cheap, k)
    global_total = global_reward.total.cpu()

    def rebuilt(ranking: dict[str, Tensor], hard: int) -> Tensor:
        """``[U*G]`` total reward of hybrid rebuilt from the global scores, ``ranking`` choosing ``hard`` negatives."""
        return reward({d: chosen_rows(full[d], ranking[d], positive[d], hard) for d in full}, hard).total.cpu()

    def tailed(hard: int, m: int, draw: int) -> Tensor:
        """``[U*G]`` total reward of hybrid with ``m`` sampled negatives (draw number ``draw``), from the global scores."""
        generator = torch.Generator().manual_seed(draw)
        keys = {d: torch.rand(full[d].shape, generator=generator).to(full[d].device) for d in full}
        rows = {d: sampled_rows(full[d], retrieval[d], positive[d], hard, m, keys[d]) for d in full}
        return reward(rows, None).total.cpu()

    def oracle(hard: int) -> dict[str, float]:
        return {f"oracle_{key}": value for key, value in agreement(rebuilt(full, hard), global_total, group).items()}

    full_pairs = 2 * users * group * total * heldout
    return {"world": world, "users_ranked": total, "global_pairs": full_pairs,
            "hybrid_pairs": scored_pairs(users, world, group, heldout, k),
            "global_s": full_s, "hybrid_s": cheap_s,
            "chance_global": float(global_reward.chance), "chance_hybrid": float(hybrid_reward.chance),
            **agreement(hybrid_reward.total.cpu(), global_total, group), **oracle(k),
            # hybrid rebuilt from the global scores; 0 up to float rounding when score_sets scores as score does
            "hybrid_from_global_max_diff": float((rebuilt(retrieval, k) - hybrid_reward.total.cpu()).abs().max()),
            "sweep": [{"k": hard, "hybrid_pairs": scored_pairs(users, world, group, heldout, hard),
                       **agreement(rebuilt(retrieval, hard), global_total, group), **oracle(hard)}
                      for hard in sweep],
            "sampled": [{"k": hard, "m": m, "hybrid_pairs": scored_pairs(users, world, group, heldout, hard + m),
                         **mean_agreement([agreement(tailed(hard, m, draw), global_total, group) for draw in range(draws)])}
                        for hard, m in tails]}


def scored_pairs(users: int, world: int, group: int, heldout: int, k: int) -> int:
    """Pairs rank 0's cross judge scores with hybrid: each query's positives plus ``min(k, negatives)``."""
    others = users * world - 1
    return users * group * (heldout + min(k, others * heldout)) + users * heldout * (group + min(k, others * group))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--worlds", type=int, nargs="+", default=[1, 4, 16, 64], help="simulated ranks W")
    parser.add_argument("--users", type=int, default=4, help="U, users per rank")
    parser.add_argument("--group-size", type=int, default=4, help="G profiles per user")
    parser.add_argument("--heldout", type=int, default=2, help="K held-out items per user")
    parser.add_argument("--hard-negatives", type=int, default=16, help="k, negatives per query the judge scores")
    parser.add_argument("--sweep-k", type=int, nargs="*", default=[], help="more k to rebuild hybrid and oracle at from the global scores")
    parser.add_argument("--sweep-sampled", nargs="*", default=[], metavar="K+M",
                        help="hybrid with M sampled negatives besides K hard ones, rebuilt from the global scores, e.g. 8+8")
    parser.add_argument("--draws", type=int, default=8, help="draws of the sampled negatives to average over")
    parser.add_argument("--device", default="cpu", help="where both judges run, e.g. cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.worlds) < 1 or args.users < 1 or args.users * min(args.worlds) < 2:
        parser.error("--worlds must be >= 1 and --users * W >= 2 (other users are the negatives)")
    if args.group_size < 2 or args.heldout < 1 or args.hard_negatives < 1 or any(k < 1 for k in args.sweep_k):
        parser.error("--group-size must be >= 2, --heldout, --hard-negatives and --sweep-k >= 1")
    try:
        args.tails = tuple(tuple(int(part) for part in pair.split("+")) for pair in args.sweep_sampled)
    except ValueError:
        parser.error(f"--sweep-sampled takes K+M pairs of ints, got {args.sweep_sampled}")
    if any(len(pair) != 2 or pair[0] < 0 or pair[1] < 1 for pair in args.tails):
        parser.error(f"--sweep-sampled takes K+M pairs with K >= 0 and M >= 1, got {args.sweep_sampled}")
    return args


def main(argv: list[str] | None = None) -> dict[str, object]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    worlds = sorted(set(args.worlds))
    texts = population(args.users * worlds[-1], args.group_size, args.heldout, random.Random(args.seed))
    results: dict[str, list[dict]] = {}
    header = ("model", "W", "users", "global pairs", "hybrid pairs", "global s", "hybrid s", "hybrid/W1",
              "spearman", "mean |diff|", "adv sign", "oracle spearman", "oracle |diff|", "oracle adv sign")
    print("  ".join(header))
    for name in args.models:
        build_judge, build_retriever = MODELS[name]
        judge, retriever = build_judge(args.device), build_retriever(args.device)
        judge.score(texts.profiles[:1], texts.items[:1], "profile_to_item")  # warm-up (allocator, kernels)
        rows = []
        for world in worlds:
            count = args.users * world
            shown = Population(texts.profiles[: count * args.group_size], texts.items[: count * args.heldout])
            row = rank_zero_judge_phase(judge, retriever, shown, args.users, world, args.group_size, args.heldout,
                                        args.hard_negatives, tuple(args.sweep_k), args.tails, args.draws)
            row["hybrid_over_global_w1"] = row["hybrid_s"] / (rows[0]["global_s"] if rows else row["global_s"])
            rows.append(row)
            print(f"{name}  {world}  {row['users_ranked']}  {row['global_pairs']}  {row['hybrid_pairs']}  "
                  f"{row['global_s']:.3f}  {row['hybrid_s']:.3f}  {row['hybrid_over_global_w1']:.2f}  "
                  f"{row['spearman']:.3f}  {row['mean_abs_diff']:.4f}  {row['advantage_sign_agreement']:.3f}  "
                  f"{row['oracle_spearman']:.3f}  {row['oracle_mean_abs_diff']:.4f}  {row['oracle_advantage_sign_agreement']:.3f}",
                  flush=True)
            for point in row["sweep"]:
                print(f"  k={point['k']}: {point['hybrid_pairs']} pairs, Spearman {point['spearman']:.3f}, "
                      f"mean |diff| {point['mean_abs_diff']:.4f}, adv sign {point['advantage_sign_agreement']:.3f}; "
                      f"oracle Spearman {point['oracle_spearman']:.3f}, mean |diff| {point['oracle_mean_abs_diff']:.4f}", flush=True)
            for point in row["sampled"]:
                print(f"  k={point['k']} + m={point['m']} sampled: {point['hybrid_pairs']} pairs, Spearman "
                      f"{point['spearman']:.3f}, mean |diff| {point['mean_abs_diff']:.4f}, "
                      f"adv sign {point['advantage_sign_agreement']:.3f} (mean of {args.draws} draws)", flush=True)
        results[name] = rows
    report: dict[str, object] = {
        "bench": "negatives_scaling",
        "results": results,
        "settings": {key: value for key, value in vars(args).items()} | {"threads": torch.get_num_threads()},
        "versions": {lib: version(lib) for lib in ("torch", "transformers")} | {"python": platform.python_version()},
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
