"""Check a judge before training against it: can it tell users apart from their own history?

    python experiments/judge_check.py --config configs/movielens_minilm.yaml \
        --config experiments/overlays/likelihood_rating.yaml --out runs/judge-check-likelihood

A judge is a measurement instrument. If it cannot rank a user's held-out interactions above other
users' when it reads the user's *whole history*, no profile (a summary of that history) can earn a
reward from it, and training against it teaches nothing. This script builds the judge, the reward
settings and the validation users exactly as ``bump fit --config ...`` would (no checkpoint, no
training), and scores on every full validation group, one text per user:

- ``history_full``: the user's whole context history (the judge's own truncation applies);
- ``history_budget``: the history cut to the profile's budget (``sampling.max_new_tokens`` policy
  tokens, most recent kept), the "recent snippet" a trained profile has to beat;

each against the group's held-out items in both directions (:func:`experiments.ladder.user_scores`),
with the mean over users and a 95% bootstrap interval over users, beside the exact chance level of
a random ranking of the same size and ``source - chance`` (paired, per user). It also times the
judge at the config's training shape: ``U*G`` texts (each user's ``history_budget`` repeated ``G``
times, profile-sized) against the ``U*K`` held-out items in both directions, per group, after one
warm-up; the median and range of the seconds of one training step's judge call. Time it alone on
the machine: under load, seconds are up to 5x off.

``--out`` (new) receives ``scores.jsonl``, ``judge_check.json`` and ``judge_check.md`` (printed).
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ladder import METRICS, _cell, ladder_rows, paired_bootstrap, per_source
from report_folder import write_report_folder

from bump_pl.judges.in_batch import InBatchScores
from bump_pl.markdown_table import markdown_table
from bump_pl.validation import history_baselines
from bump_pl.verdict import judge_scores, rollout_ndcg

SOURCES = ("history_full", "history_budget")


def chance_values(settings, num_users: int, heldout_per_user: int) -> dict[str, np.ndarray]:
    """``{metric: [U]}`` the exact chance level of each metric for a group of ``U`` users, ``K`` items
    each and one text per user (the reward's own chance levels; the scores themselves are not read)."""
    scores = InBatchScores(torch.zeros(num_users, num_users * heldout_per_user),
                           torch.zeros(num_users * heldout_per_user, num_users), num_users, 0)
    reward = rollout_ndcg(scores, num_users=num_users, group_size=1, heldout_per_user=heldout_per_user,
                          settings=settings)
    chance = {"ndcg": reward.chance, "profile_to_item": reward.chance_profile_to_item,
              "item_to_profile": reward.chance_item_to_profile}
    return {name: np.full(num_users, float(chance[name])) for name in METRICS}


def step_seconds(judge, settings, batches, texts: list[list[str]], group_size: int) -> list[float]:
    """Seconds of one training step's judge call (``U*G`` profile-sized texts vs ``U*K`` items, both
    directions) on each group, after one untimed warm-up call."""
    def call(group: int) -> None:
        judge_scores(judge, [t for t in texts[group] for _ in range(group_size)], batches[group].heldout, settings,
                     settings.negative_users)

    call(0)
    seconds = []
    for group in range(len(batches)):
        start = time.perf_counter()
        call(group)
        seconds.append(time.perf_counter() - start)
    return seconds


def judge_check(configs: list[str], *, samples: int, seed: int, time_groups: int) -> tuple[list[dict], dict, str]:
    """``(rows, judge_check.json, judge_check.md)`` for the judge and data of ``bump fit --config ...``."""
    from bump_pl.cli import build_cli

    cli = build_cli([arg for config in configs for arg in ("--config", config)] + ["--trainer.logger", "false"], run=False)
    module, data = cli.model, cli.datamodule
    judge, settings = module.judge, module.reward
    data.setup("validate")
    batches = list(data.val_dataloader())
    tokenizer, budget = module.generator.tokenizer, module.sampling.max_new_tokens
    with torch.inference_mode():
        history = [history_baselines(batch.context, tokenizer, budget) for batch in batches]
        texts = {source: [h[source] for h in history] for source in SOURCES}
        rows = ladder_rows(judge, settings, batches, texts)
        values = per_source(rows)
        chances = [chance_values(settings, len(b.heldout), len(b.heldout[0])) for b in batches]
        values["chance"] = {m: np.concatenate([c[m] for c in chances]) for m in METRICS}
        seconds = step_seconds(judge, settings, batches[: max(1, time_groups)], texts["history_budget"], module.hparams.group_size)
    means, _ = paired_bootstrap(values, "history_full", samples=samples, seed=seed)
    above = {s: paired_bootstrap({s: values[s], "chance": values["chance"]}, s, samples=samples, seed=seed)[1][f"{s} - chance"]
             for s in SOURCES}
    entry = cli.config.model.as_dict()["judge"]
    defaults = inspect.signature(type(judge).__init__).parameters
    chosen = {k: v for k, v in (entry.get("init_args") or {}).items() if k not in defaults or defaults[k].default != v}
    settings_text = {
        "judge": f"{entry['class_path']}({', '.join(f'{k}={v!r}' for k, v in chosen.items())})",
        "configs": " + ".join(configs),
        "users": f"{len(batches) * data.users_per_batch} of {len(data.datasets['val'])} validation users,"
                 f" {len(batches)} groups of {data.users_per_batch}, K={data.heldout_per_user}",
        "reward": f"alpha {settings.alpha}, ndcg_k {settings.ndcg_k}, negatives {settings.negatives}",
        "judge step": f"median {statistics.median(seconds):.2f} s (range {min(seconds):.2f}-{max(seconds):.2f}) over"
                      f" {len(seconds)} groups: U*G={data.users_per_batch * module.hparams.group_size} profile-sized texts vs"
                      f" U*K={data.users_per_batch * data.heldout_per_user} items, both directions",
        "bootstrap": f"{samples} resamples of users, seed {seed}, 95% percentile intervals",
    }
    table = markdown_table(
        ["source", "NDCG", "profile→item", "item→profile", "NDCG − chance"],
        [[s, *(_cell(means[s][m]) for m in METRICS), _cell(above[s]["ndcg"], signed=True)] for s in SOURCES]
        + [["chance", *(f"{means['chance'][m]['value']:.3f}" for m in METRICS), ""]],
    )
    text = "\n".join(["# Judge check", "", *(f"- {k}: {v}" for k, v in settings_text.items()), "", table]) + "\n"
    report = {"settings": settings_text, "sources": means, "above_chance": above, "judge_step_seconds": seconds}
    return rows, report, text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="judge_check.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", action="append", required=True, help="bump fit config (repeat for overlays)")
    parser.add_argument("--out", type=Path, required=True, help="new folder for scores.jsonl, judge_check.json/.md")
    parser.add_argument("--samples", type=int, default=1000, help="bootstrap resamples of users")
    parser.add_argument("--seed", type=int, default=0, help="seeds the bootstrap")
    parser.add_argument("--time_groups", type=int, default=4, help="groups timed at the training shape")
    args = parser.parse_args(argv)
    if args.out.exists():
        print(f"judge_check.py: error: {args.out}: already exists (--out must be a new folder)", file=sys.stderr)
        return 1
    rows, report, text = judge_check(args.config, samples=args.samples, seed=args.seed, time_groups=args.time_groups)
    write_report_folder(args.out, "scores.jsonl", rows, "judge_check", report, text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
