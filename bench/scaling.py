"""How judge time and training step time grow with U, the users per batch, for both judge kinds.

For every U (``--users``) and judge (``embedding``, ``cross``):

- **judge time**: ``in_batch_scores`` (both directions) on ``U*G`` synthetic profiles of
  ``--max-new-tokens`` policy tokens against the ``U*K`` held-out items of the first train batch of
  synthetic LaMP-3 users; median of ``--judge-repeats`` calls after one warm-up call. The embedding
  judge is symmetric: it encodes ``U*(G+K)`` texts once and scores one matrix (linear in U for the
  encoding, the ``[U*G, U*K]`` product is negligible). The cross judge runs a forward for every
  pair, ``2 * U*G * U*K`` of them (quadratic in U).
- **step time**: ``BumpModule`` with that judge and the policy, fitted by a Lightning ``Trainer``
  for ``--steps`` steps on a ``BumpDataModule`` with ``users_per_batch=U``; median wall seconds of
  a step after the warm-up step, plus the judge's seconds inside it (``--judge-only`` skips it).

Prints a table, saves a plot (``--plot``), and ends with one JSON line: per judge the U list and the
judge / step second lists, the growth exponents (least-squares slope of log seconds on log U),
settings and library versions.

    python bench/scaling.py                                   # tiny models, U = 4 8 16 32
    python bench/scaling.py --judges embedding --embedding-judge all-minilm-l6-v2 --judge-only
    python bench/scaling.py --users 2 4 --steps 2 --plot /tmp/s.png   # smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import statistics
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import torch

from _scaling_step import StepSettings, first_train_batch, synthetic_data, time_training_steps
from judge_throughput import synthetic_texts

from bump_pl.judges import CrossJudge, EmbeddingJudge, Judge
from bump_pl.models import load_tokenizer
from bump_pl.judges.in_batch import in_batch_scores

JUDGES = ("embedding", "cross")


def growth_exponent(users: list[int], seconds: list[float]) -> float | None:
    """Least-squares slope ``b`` of ``log t = a + b log U`` (``t ~ U^b``); None without two distinct U."""
    if len(set(users)) < 2:
        return None
    xs, ys = [math.log(u) for u in users], [math.log(t) for t in seconds]
    x_mean, y_mean = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys)) / sum((x - x_mean) ** 2 for x in xs)


def time_judge(judge: Judge, profiles: list[str], items: list[str], users: int, repeats: int) -> float:
    """Median wall seconds of one ``in_batch_scores`` call (both directions) after one warm-up call."""
    in_batch_scores(judge, profiles, items, num_users=users)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        in_batch_scores(judge, profiles, items, num_users=users)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build_judge(kind: str, args: argparse.Namespace) -> Judge:
    """The frozen judge of ``kind`` from the command line's model names."""
    if kind == "embedding":
        return EmbeddingJudge(args.embedding_judge, pooling=args.embedding_pooling)
    return CrossJudge(args.cross_judge)


def plot_scaling(results: dict[str, dict], path: Path) -> None:
    """Seconds vs U (log2 x, log y): a judge line and a step line per judge kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for kind, color in zip(results, ("tab:blue", "tab:orange")):
        figures = results[kind]
        ax.plot(figures["users"], figures["judge_s"], "o--", color=color, label=f"{kind} judge: in_batch_scores")
        if figures["step_s"]:
            ax.plot(figures["users"], figures["step_s"], "s-", color=color, label=f"{kind} judge: training step")
    ax.set_xscale("log", base=2)
    users = sorted({u for figures in results.values() for u in figures["users"]})
    ax.set_xticks(users, [str(u) for u in users])
    ax.set_yscale("log")
    ax.set_xlabel("users per batch U")
    ax.set_ylabel("seconds (median)")
    ax.set_title("BUMP cost vs users per batch")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[4, 8, 16, 32], help="users per batch U")
    parser.add_argument("--judges", nargs="+", choices=JUDGES, default=list(JUDGES))
    parser.add_argument("--policy", default="tiny-random-llama", help="generator: alias, folder, GGUF or Hub id")
    parser.add_argument("--embedding-judge", default="tiny-random-encoder", help="EmbeddingJudge model")
    parser.add_argument("--embedding-pooling", choices=["mean", "cls", "last"], default="mean")
    parser.add_argument("--cross-judge", default="tiny-random-llama", help="CrossJudge model (a causal LM)")
    parser.add_argument("--group-size", type=int, default=4, help="G rollouts per user")
    parser.add_argument("--heldout", type=int, default=2, help="K held-out interactions per user")
    parser.add_argument("--max-new-tokens", type=int, default=16, help="exact rollout (and judged profile) length")
    parser.add_argument("--prompt-tokens", type=int, default=512, help="prompt budget of the DataModule")
    parser.add_argument("--steps", type=int, default=3, help="training steps per point (first: warm-up)")
    parser.add_argument("--judge-repeats", type=int, default=3, help="timed in_batch_scores calls per point")
    parser.add_argument("--judge-only", action="store_true", help="time the judge only, no training steps")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", type=Path, default=Path("bench/scaling.png"), help="PNG to write")
    args = parser.parse_args(argv)
    if min(args.users) < 2:
        parser.error("--users must all be >= 2 (other users are the negatives)")
    if args.judge_repeats < 1:
        parser.error("--judge-repeats must be >= 1")
    try:
        args.step_settings = StepSettings(
            policy=args.policy,
            group_size=args.group_size,
            heldout=args.heldout,
            max_new_tokens=args.max_new_tokens,
            prompt_tokens=args.prompt_tokens,
            steps=args.steps,
            seed=args.seed,
        )
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: list[str] | None = None) -> dict[str, object]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings: StepSettings = args.step_settings
    users = sorted(set(args.users))
    policy_tokenizer = load_tokenizer(settings.policy)
    rng = random.Random(args.seed)
    inputs = {}
    for u in users:
        batch = first_train_batch(synthetic_data(settings, u, policy_tokenizer))
        profiles = synthetic_texts(policy_tokenizer, u * settings.group_size, settings.max_new_tokens, rng)
        inputs[u] = (profiles, [item for items in batch.heldout for item in items])

    results: dict[str, dict] = {}
    print(f"{'judge':<10}{'U':>4}{'pairs':>8}{'judge s':>10}{'step s':>9}{'step cpu s':>11}{'judge in step s':>16}")
    with tempfile.TemporaryDirectory() as log_dir:
        for kind in args.judges:
            judge = build_judge(kind, args)
            keys = ("users", "pairs", "judge_s", "step_s", "step_cpu_s", "judge_in_step_s", "completion_length")
            figures: dict[str, list] = {key: [] for key in keys}
            for u in users:
                profiles, items = inputs[u]
                judge_s = time_judge(judge, profiles, items, u, args.judge_repeats)
                pairs = len(profiles) * len(items) * (1 if judge.symmetric else 2)
                figures["users"].append(u)
                figures["pairs"].append(pairs)
                figures["judge_s"].append(judge_s)
                step_cells = ""
                if not args.judge_only:
                    step = time_training_steps(judge, u, settings, log_dir)
                    figures["step_s"].append(step.s_per_step)
                    figures["step_cpu_s"].append(step.cpu_s_per_step)
                    figures["judge_in_step_s"].append(step.judge_in_step_s)
                    figures["completion_length"].append(step.completion_length)
                    step_cells = f"{step.s_per_step:>9.3f}{step.cpu_s_per_step:>11.3f}{step.judge_in_step_s:>16.3f}"
                print(f"{kind:<10}{u:>4}{pairs:>8}{judge_s:>10.3f}{step_cells}", flush=True)
            figures["judge_exponent"] = growth_exponent(users, figures["judge_s"])
            figures["step_exponent"] = growth_exponent(users, figures["step_s"]) if figures["step_s"] else None
            results[kind] = figures
    plot_scaling(results, args.plot)
    for kind, figures in results.items():
        step = figures["step_exponent"]
        step_text = "" if step is None else f", step time ~ U^{step:.2f}"
        print(f"{kind}: judge time ~ U^{figures['judge_exponent']:.2f}{step_text}")
    report: dict[str, object] = {
        "bench": "scaling",
        "results": results,
        "settings": {
            **vars(settings),
            "embedding_judge": args.embedding_judge,
            "embedding_pooling": args.embedding_pooling,
            "cross_judge": args.cross_judge,
            "judge_repeats": args.judge_repeats,
            "judge_only": args.judge_only,
            "threads": torch.get_num_threads(),
        },
        "plot": str(args.plot),
        "versions": {name: version(name) for name in ("torch", "transformers", "lightning", "peft")}
        | {"python": platform.python_version()},
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
