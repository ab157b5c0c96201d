"""Paired comparison of runs at the judge: each run's trained profile on the same users, from their ladders.

    python experiments/compare.py C=runs/ladder-rowC alpha0=runs/ladder-alpha0 users4=runs/ladder-users4

Each ``LABEL=DIR`` is an ``experiments/ladder.py --out`` folder. The first run is the reference; for
every other run the table gives its trained profile's mean NDCG (both directions and their mix)
and ``reference - run`` with a 95% paired-bootstrap interval over users (one seeded set of
resamples for all). The mix (``ndcg``) is recomputed for every run with one ``--alpha`` (default
0.5), as a run trained with another ``reward.alpha`` laddered its own mix. The ladders must have
scored the same users in the same groups (the same validation split and ``--users_per_batch``), or
the in-batch negatives would differ, against held-out items written the same way (``ladder.py
--heldout_template``), ranked the same way (``ndcg_k``, ``--negatives``) by the same judge
(``ladder.py --judge``): all four are checked.
The untrained generator's row is taken from the reference ladder, for scale. ``--plot FILE.png``
also draws each run's mean NDCG with its interval.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ladder import METRICS, PLAIN_HELDOUT, REFERENCE, markdown, paired_bootstrap, ranking
from plots import interval_plot


class CompareError(Exception):
    """Bad input: ``"{path}: {problem}"``, printed as one line."""


def read_scores(folder: Path) -> list[dict]:
    """The rows of a ladder's ``scores.jsonl``."""
    path = folder / "scores.jsonl"
    if not path.is_file():
        raise CompareError(f"{path}: no such file (is {folder} an experiments/ladder.py --out folder?)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def scoring(folder: Path) -> tuple[str, str, str]:
    """How a ladder scored: ``(writing, ranking, judge)``. The writing of the held-out items is
    ``settings.heldout`` of its ``ladder.json`` (ladders from before the setting read them as the
    prompt renders them); the ranking is ``settings.reward`` without the mix weight (``ndcg_k`` and
    the negatives: a run trained with ``hybrid`` negatives laddered as trained ranks fewer); the
    judge is ``settings.judge`` (its class and model)."""
    path = folder / "ladder.json"
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))["settings"]
        return settings.get("heldout", PLAIN_HELDOUT), ranking(settings["reward"]), settings["judge"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise CompareError(f"{path}: missing or not a ladder.py report") from None


def source_values(rows: list[dict], source: str, alpha: float) -> tuple[list[tuple[str, int]], dict[str, np.ndarray]]:
    """``(users as (user_id, group) in order, {metric: [N]})`` of one source of a ladder, the mix
    ``ndcg`` recomputed as ``alpha * profile_to_item + (1 - alpha) * item_to_profile``."""
    picked = [row for row in rows if row["source"] == source]
    users = [(row["user_id"], row["group"]) for row in picked]
    values = {name: np.array([row[name] for row in picked], dtype=np.float64) for name in METRICS}
    values["ndcg"] = alpha * values["profile_to_item"] + (1 - alpha) * values["item_to_profile"]
    return users, values


def compare(runs: dict[str, Path], *, alpha: float = 0.5, samples: int = 1000, seed: int = 0, plot: Path | None = None) -> str:
    """The markdown comparison of ``{label: ladder folder}`` (the first label is the reference); with
    ``plot``, also that PNG of each run's (and the untrained generator's) NDCG with its interval."""
    values, reference_users, reference_writing, reference_ranking, reference_judge = {}, None, None, None, None
    for label, folder in runs.items():
        rows, (writing, ranking, judge) = read_scores(folder), scoring(folder)
        users, values[label] = source_values(rows, REFERENCE, alpha)
        if reference_users is None:
            reference_users, reference_writing, reference_ranking, reference_judge = users, writing, ranking, judge
            values["untrained"] = source_values(rows, "untrained_profile", alpha)[1]
        elif users != reference_users:
            raise CompareError(f"{folder}: scored other users or groups than {next(iter(runs.values()))};"
                               " run both ladders on the same split with the same --users_per_batch")
        elif writing != reference_writing:
            raise CompareError(f"{folder}: held-out items written {writing}, not {reference_writing} as in"
                               f" {next(iter(runs.values()))}; ladder both with the same --heldout_template")
        elif ranking != reference_ranking:
            raise CompareError(f"{folder}: ranked with {ranking}, not {reference_ranking} as in"
                               f" {next(iter(runs.values()))}; ladder both with the same --negatives")
        elif judge != reference_judge:
            raise CompareError(f"{folder}: scored by {judge}, not {reference_judge} as in"
                               f" {next(iter(runs.values()))}; ladder both with the same --judge")
    first = next(iter(runs))
    means, differences = paired_bootstrap(values, first, samples=samples, seed=seed)
    settings = {"runs": ", ".join(f"{label} = {folder}" for label, folder in runs.items()),
                "users": f"{len(reference_users)} users, trained profiles; untrained: {first}'s ladder",
                "heldout": reference_writing,
                "judge": reference_judge,
                "NDCG": f"{alpha} x profile→item + {1 - alpha} x item→profile, for every run",
                "bootstrap": f"{samples} paired resamples of users, seed {seed}, 95% percentile intervals"}
    if plot is not None:
        interval_plot({label: mean["ndcg"] for label, mean in means.items()}, plot, title="Runs compared at the judge",
                      xlabel=f"NDCG ({alpha} x profile→item + {1 - alpha} x item→profile), mean and 95% interval")
    return markdown(settings, means, differences, title="Runs compared at the judge")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="compare.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=LADDER_FOLDER, the reference first")
    parser.add_argument("--alpha", type=float, default=0.5, help="weight of profile→item in the NDCG mix")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", type=Path, default=None, help="also write this PNG: each run's NDCG with its interval")
    args = parser.parse_args(argv)
    try:
        runs = {}
        for spec in args.runs:
            label, sep, folder = spec.partition("=")
            if not sep or not label or label in runs or label == "untrained":
                raise CompareError(f"{spec}: expected a new LABEL=FOLDER (labels unique, not 'untrained')")
            runs[label] = Path(folder)
        text = compare(runs, alpha=args.alpha, samples=args.samples, seed=args.seed, plot=args.plot)
    except CompareError as error:
        print(f"compare.py: error: {error}", file=sys.stderr)
        return 1
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
