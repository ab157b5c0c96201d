"""Paired comparison of runs downstream: one variant of each run, on the same questions, over users.

    python experiments/compare_downstream.py rating_start=runs/sft-rs-dev C=runs/sft-C-dev
    python experiments/compare_downstream.py rating_start=runs/sft-rs-dev C_untrained=runs/sft-C-dev:untrained_profile

A downstream report compares the variants of one run (the profile against no profile, another
user's profile, ...). Which of two *runs* writes the more useful profile needs their answers to the
same questions, paired. Each ``LABEL=DIR[:VARIANT]`` is a ``bump-downstream --out`` folder
(``report.json``, ``predictions.jsonl``; ``--kind``: the graded answer ``prediction@expected`` by
default, ``argmax`` or the ``generated`` text) or an ``experiments/reader_check.py --out`` folder
(``reader_check.json``, ``predictions.jsonl``: its expected ratings, whatever ``--kind``); VARIANT
is ``profile`` unless given. Every run must have answered the same question ids with the same golds
(checked). The first run is the reference: the table gives each run's metrics (the task's official
LaMP metric) and ``reference - run``, 95% paired-bootstrap intervals over users (each drawn user
with all their questions; one seeded set of resamples for all).

``LABEL=DIR+DIR...`` pools runs of one recipe (other training seeds): each question is answered once
by every folder, so the pooled MAE is the mean of the folders' MAEs (RMSE: the root of their pooled
squared errors), and a run of one folder is repeated as often, so every difference stays paired
over users. The intervals are over users, with the seeds fixed: they say nothing of a third seed.

    python experiments/compare_downstream.py rating_first=runs/sft-rs-dev+runs/sft-rs1-dev untrained=runs/sft-rs-dev:untrained_profile
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ladder import _cell

from bump_pl.downstream.bootstrap import bootstrap_report
from bump_pl.markdown_table import markdown_table

KINDS = {"expected": "prediction@expected", "argmax": "prediction@argmax", "generated": "prediction"}


class CompareError(Exception):
    """Bad input: ``"{path}: {problem}"``, printed as one line."""


Answers = dict[str, tuple[str, str, str]]  # question id -> (user id, gold, answer)


def _read_json(path: Path, lines: bool = False):
    """A JSON file (``lines``: JSON lines, as a list), or a one-line :class:`CompareError`."""
    try:
        text = path.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()] if lines else json.loads(text)
    except (OSError, ValueError) as error:
        raise CompareError(f"{path}: cannot read ({type(error).__name__})") from None


def read_answers(folder: Path, variant: str, kind: str) -> tuple[str, Answers]:
    """``(metric task, answers)`` of one variant of a ``bump-downstream`` or ``reader_check.py`` folder."""
    report = folder / "report.json"
    if not report.is_file() and not (folder / "reader_check.json").is_file():
        raise CompareError(f"{folder}: neither report.json nor reader_check.json (a bump-downstream or reader_check.py --out folder?)")
    predictions = folder / "predictions.jsonl"
    rows = _read_json(predictions, lines=True)
    if report.is_file():
        summary = _read_json(report)
        task = summary.get("metric_task") if isinstance(summary, dict) else None
        if not task:
            raise CompareError(f"{report}: no metric_task (not a bump-downstream report?)")
        present = sorted({str(row.get("variant")) for row in rows})
        picked = [(row, str(row.get(KINDS[kind]))) for row in rows if row.get("variant") == variant]
    else:
        task = "LaMP_3"  # reader_check.py asks rating questions only
        present = sorted(key for key in (rows[0] if rows else {}) if key not in ("id", "user_id", "gold"))
        picked = [(row, str(row[variant])) for row in rows if variant in row]
    if not picked:
        raise CompareError(f"{predictions}: no answers of variant {variant!r} (it has {', '.join(present)})")
    if any(answer == "None" for _, answer in picked):
        raise CompareError(f"{predictions}: variant {variant!r} has no {KINDS[kind]!r} answers (try another --kind)")
    return str(task), {row["id"]: (row["user_id"], row["gold"], answer) for row, answer in picked}


Run = tuple[Path | tuple[Path, ...], str]  # (folder, or the folders pooled, variant)


def compare(runs: dict[str, Run], *, kind: str = "expected", samples: int = 1000, seed: int = 0) -> str:
    """The markdown comparison of ``{label: (folder or folders, variant)}``; the first label is the
    reference. Each run pools one folder or ``S`` folders, the same ``S`` for all that pool."""
    labels = list(runs)
    folders = {label: (folder,) if isinstance(folder, Path) else tuple(folder) for label, (folder, _) in runs.items()}
    pooled = max(len(group) for group in folders.values())
    for label, group in folders.items():
        if len(group) not in (1, pooled):
            raise CompareError(f"{label}: pools {len(group)} folders and another run {pooled}; give each run 1 or {pooled}")
    read = {label: [read_answers(folder, runs[label][1], kind) for folder in folders[label]] for label in labels}
    (task, reference), first_folder = read[labels[0]][0], folders[labels[0]][0]
    for label in labels:
        for folder, (other_task, answers) in zip(folders[label], read[label]):
            if other_task != task:
                raise CompareError(f"{folder}: scored as {other_task}, not {task} as {first_folder}")
            if answers.keys() != reference.keys():
                raise CompareError(f"{folder}: answered other questions than {first_folder} ({len(answers)} vs {len(reference)};"
                                   " the same split and --questions_per_user?)")
            if any(answers[key][:2] != reference[key][:2] for key in reference):
                raise CompareError(f"{folder}: a question's user or gold differs from {first_folder}'s")
    ids = list(reference)  # the reference's order: its own variants' intervals come out as in its report
    keys = ["profile"] + [f"run{i}" for i in range(1, len(labels))]  # bootstrap_report compares "profile" with the rest
    answers = {key: [read[label][min(copy, len(read[label]) - 1)][1][i][2] for copy in range(pooled) for i in ids]
               for key, label in zip(keys, labels)}
    golds, users = [reference[i][1] for i in ids] * pooled, [reference[i][0] for i in ids] * pooled
    metrics, differences = bootstrap_report(task, answers, golds, keys[1:], users, samples=samples, seed=seed)
    names = list(metrics["profile"])
    run_rows = [[label, f"`{runs[label][1]}`", *(_cell(metrics[key][name]) for name in names)] for key, label in zip(keys, labels)]
    difference_rows = [[f"{labels[0]} − {label}", *(_cell(differences[f"profile - {key}"][name], signed=True) for name in names)]
                       for key, label in zip(keys[1:], labels[1:])]
    return "\n".join([
        f"# Runs compared downstream ({task}, {KINDS[kind]})", "",
        f"{len(ids)} questions of {len(set(users))} users; runs: "
        + ", ".join(f"{label} = {' + '.join(map(str, group))}" for label, group in folders.items())
        + f"; {samples} paired resamples of users, seed {seed}, 95% percentile intervals", "",
        markdown_table(["run", "variant", *names], run_rows), "",
        markdown_table(["difference", *names], difference_rows), "",
    ])


def parse_run(spec: str, seen: dict) -> tuple[str, Run]:
    """``LABEL=DIR[+DIR...][:VARIANT]`` as ``(label, (folders, variant))``."""
    label, sep, rest = spec.partition("=")
    if not sep or not label or label in seen or not rest:
        raise CompareError(f"{spec}: expected a new LABEL=DIR[+DIR...][:VARIANT] (labels unique)")
    folders, _, variant = rest.partition(":")
    return label, (tuple(Path(folder) for folder in folders.split("+")), variant or "profile")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="compare_downstream.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=DIR[+DIR...][:VARIANT], the reference first (VARIANT: profile; +: runs pooled)")
    parser.add_argument("--kind", choices=sorted(KINDS), default="expected", help="which answer of bump-downstream folders")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        runs: dict[str, Run] = {}
        for spec in args.runs:
            label, run = parse_run(spec, runs)
            runs[label] = run
        if len(runs) < 2:
            raise CompareError("give at least two runs to compare")
        print(compare(runs, kind=args.kind, samples=args.samples, seed=args.seed))
    except CompareError as error:
        print(f"compare_downstream.py: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
