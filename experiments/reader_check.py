"""Check the reader before blaming the profile: can a downstream model use what a user's context says?

    python experiments/reader_check.py --data_dir ../shared/data/movielens-rating --split dev \
        --questions_per_user 5 --profiles RUN/downstream-dev/profiles.jsonl \
        --untrained_profiles RUN/downstream-dev/untrained_profiles.jsonl --out runs/reader-check-dev

A profile can only help downstream through a reader that uses it. ``bump-downstream --mode zero_shot``
asks SmolLM2-135M-Instruct as a chat turn; on MovieLens every context there (the user's own recent
ratings included) makes its rating *worse* than no context at all. That says nothing about the
profiles until we know whether any reader here can use a user's context. This script asks the
same questions as ``bump-downstream --questions_per_user N`` (:func:`bump_pl.downstream.held_out.ask_last`:
every context is built from the history before the earliest asked item) two other ways:

- ``history_mean``: no model; the mean of the user's history ratings. How much a plain statistic of
  the user's context is worth: the headroom any profile could claim.
- a **completion reader**: the causal LM reads the likelihood judge's template with the context as
  ``{profile}`` and the asked item as ``{item}``, written as the history lines are
  (``"<item>: rated "``), and answers with the rating expected under the softmax of the next token's
  log-probabilities over the options ``1..5``. This is the format in which the likelihood judge
  measured information (experiments/judge_check.py), so it is the reader the profile was trained for.
  Its contexts are the variants of ``bump-downstream``: ``no_profile``, ``recent_history`` (the last
  ``--history_items`` items as ``"<item>: rated N"`` lines, cut to ``--context_tokens`` from the
  end), ``profile``, ``other_user_profile`` (the same fixed derangement) and ``untrained_profile``
  (profiles cut to ``--context_tokens`` from the start).

With ``--stated_after TEXT`` (profiles begun with ``profile_prompt.response_start``, e.g. ``"out of
5:"``) a third way needs no model: ``stated_profile`` (and ``stated_untrained_profile``) answers
each question with the number a profile states right after ``TEXT``, clipped to 1..5 (a profile
stating none answers 3, the middle of the scale). The report also counts the profiles that state
one and gives its Pearson r with the user's history mean: does the policy write its user's habit?

Scored with LaMP-3's official MAE and RMSE, 95% bootstrap intervals over users (each with all their
questions), and ``profile - b`` paired for every other variant. Rating tasks only
(:data:`bump_pl.downstream.held_out.ITEM_QUESTIONS` writes their items as questions).
``--out`` (new) receives ``predictions.jsonl``, ``reader_check.json`` and ``reader_check.md`` (printed).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from ladder import _cell
from report_folder import write_report_folder

from bump_pl.data.tasks import get_task, metric_task_of
from bump_pl.downstream.bootstrap import bootstrap_report
from bump_pl.downstream.held_out import ITEM_QUESTIONS, ask_last
from bump_pl.downstream.inputs import check_covered, read_profiles, read_split, resolve_task, split_files
from bump_pl.downstream.options import expected_values
from bump_pl.downstream.other_user import derangement
from bump_pl.downstream.prompts import truncate_tokens
from bump_pl.markdown_table import markdown_table
from bump_pl.models.loading import load_causal_lm, load_tokenizer
from bump_pl.models.prefix import position_ids_from_mask
from bump_pl.token_padding import pad_id_of, pad_token_ids

#: The likelihood judge's template, read from experiments/overlays/likelihood_rating.yaml (one source).
TEMPLATE: str = yaml.safe_load((Path(__file__).parent / "overlays" / "likelihood_rating.yaml").read_text())[
    "model"]["judge"]["init_args"]["template"]
OPTIONS = ("1", "2", "3", "4", "5")
RATED = ": rated "


def item_line(task: str, item: dict[str, Any]) -> str:
    """A history item as the reader sees it: ``"<the item as its question shows it>: rated <gold>"``."""
    writer = ITEM_QUESTIONS[task]
    return f"{writer.asked(item)}{RATED}{writer.gold(item)}"


def contexts(task: str, user, profiles: dict[str, dict[str, str]], other: dict[str, str], tokenizer: Any,
             history_items: int, context_tokens: int) -> dict[str, str]:
    """``{variant: context}`` of one user (``user.items`` is the history before the earliest asked item)."""
    lines = [item_line(task, item) for item in user.items[-history_items:]]
    out = {"no_profile": "", "recent_history": truncate_tokens("\n".join(lines), tokenizer, context_tokens, keep="tail")}
    for variant, texts in profiles.items():
        out[variant] = truncate_tokens(texts[user.user_id].strip(), tokenizer, context_tokens, keep="head")
    if "profile" in profiles:
        out["other_user_profile"] = truncate_tokens(profiles["profile"][other[user.user_id]].strip(), tokenizer,
                                                    context_tokens, keep="head")
    return out


def stated_rating(profile: str, after: str) -> float | None:
    """The number ``profile`` states right after the first ``after`` (None when there is none):
    ``stated_rating("Average rating given, out of 5: 4. Likes ...", "out of 5:") == 4.0``."""
    _, found, rest = profile.partition(after)
    number = re.match(r"\s*(\d+(?:\.\d+)?)", rest) if found else None
    return float(number.group(1)) if number else None


def stated_answer(value: float | None) -> float:
    """A stated number as an answer: clipped to the scale 1..5; 3, its middle, when none is stated."""
    return 3.0 if value is None else min(max(value, 1.0), 5.0)


def stated_summary(stated: dict[str, dict[str, float | None]], means: dict[str, float]) -> dict:
    """Per profiles variant (``stated``: ``{variant: {user_id: stated_rating}}``): how many users'
    profiles state a number, and the Pearson r of those numbers as answers (:func:`stated_answer`: a
    stray "2001" counts as 5) with the users' history means ``means`` (one value per user; r is None
    below 3 users stating one or with no spread)."""
    summary = {}
    for variant, numbers in stated.items():
        pairs = [(stated_answer(value), means[user_id]) for user_id, value in numbers.items() if value is not None]
        spread = len(pairs) >= 3 and len({p[0] for p in pairs}) > 1 and len({p[1] for p in pairs}) > 1
        r = float(np.corrcoef(np.array(pairs).T)[0, 1]) if spread else None
        summary[variant] = {"stating": len(pairs), "users": len(numbers), "pearson_r_history_mean": r}
    return summary


def option_ids(tokenizer: Any) -> list[int]:
    """The one token id of each rating option; refuses a tokenizer that splits a digit."""
    ids = [tokenizer(option, add_special_tokens=False)["input_ids"] for option in OPTIONS]
    if any(len(row) != 1 for row in ids):
        raise ValueError(f"reader_check: the options {OPTIONS} must be one token each, the tokenizer gives {ids}")
    return [row[0] for row in ids]


@torch.no_grad()
def expected_ratings(model, tokenizer, prompts: list[str], batch_size: int) -> list[float]:
    """For each prompt, ``sum_n n * softmax(log p(n | prompt))`` over the options, from one left-padded forward per batch."""
    options, values = option_ids(tokenizer), [float(option) for option in OPTIONS]
    out: list[float] = []
    for start in range(0, len(prompts), batch_size):
        rows = [tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in prompts[start : start + batch_size]]
        ids, mask = pad_token_ids(rows, pad_id_of(tokenizer), "left")
        logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids_from_mask(mask)).logits[:, -1]
        out.extend(expected_values(logits.float().log_softmax(-1)[:, options], values).tolist())
    return out


def reader_check(args: argparse.Namespace) -> tuple[list[dict], dict, str]:
    """The predictions of every variant on every question, the report, and its markdown."""
    task = resolve_task(args.task, split_files(args.data_dir, args.split)[1])
    if task.name not in ITEM_QUESTIONS or get_task(metric_task_of(task.name)).metric != "regression":
        raise ValueError(f"reader_check: {task.name} is not a rating task whose items can be asked")
    users = [ask_last(user, task, args.questions_per_user) for user in read_split(args.data_dir, args.split, task)]
    sources = {"profile": args.profiles, "untrained_profile": args.untrained_profiles}
    profiles = {variant: read_profiles([path]) for variant, path in sources.items() if path is not None}
    for variant, texts in profiles.items():
        check_covered(texts, [user.user_id for user in users], [sources[variant]], args.split)
    other = derangement([user.user_id for user in users], args.seed)
    means = {user.user_id: sum(float(item["score"]) for item in user.items) / len(user.items) for user in users}
    stated = {} if args.stated_after is None else {  # {variant: {user_id: the number its profile states}}
        variant: {user.user_id: stated_rating(texts[user.user_id], args.stated_after) for user in users}
        for variant, texts in profiles.items()
    }
    tokenizer, model = load_tokenizer(args.model), load_causal_lm(args.model).eval()
    rows, prompts = [], []
    for user in users:
        shown = contexts(task.name, user, profiles, other, tokenizer, args.history_items, args.context_tokens)
        answered = {f"stated_{variant}": stated_answer(numbers[user.user_id]) for variant, numbers in stated.items()}
        for question in user.questions:
            asked = question.input.split(ITEM_QUESTIONS[task.name].marker, 1)[-1]  # the item as the question shows it
            rows.append({"id": question.id, "user_id": user.user_id, "gold": str(question.output),
                         "history_mean": means[user.user_id], **answered})
            prompts.extend(TEMPLATE.format(profile=context, item=f"{asked}{RATED}") for context in shown.values())
    variants = list(shown)
    expected = expected_ratings(model, tokenizer, prompts, args.batch_size)
    for position, row in enumerate(rows):
        row.update(zip(variants, expected[position * len(variants) : (position + 1) * len(variants)]))
    answers = {name: [repr(float(row[name])) for row in rows]
               for name in ("history_mean", *(f"stated_{variant}" for variant in stated), *variants)}
    metric_task = metric_task_of(task.name)
    point, differences = bootstrap_report(
        metric_task, answers, [row["gold"] for row in rows], [name for name in answers if name != "profile"],
        [row["user_id"] for row in rows], samples=args.samples, seed=args.seed,
    )
    report = {"settings": {key: str(value) for key, value in vars(args).items()}, "questions": len(rows),
              "users": len(users), "variants": point, "differences": differences}
    if stated:
        report["stated"] = stated_summary(stated, means)
    return rows, report, markdown_report(report)


def markdown_report(report: dict) -> str:
    """The two tables of ``report``: each variant's MAE and RMSE, and ``profile - b``; before them, with
    ``--stated_after``, a line per profiles variant on the numbers its profiles state."""
    settings = report["settings"]
    head = (f"# Reader check\n\n{settings['split']} split of {settings['data_dir']}: {report['questions']} questions of "
            f"{report['users']} users ({settings['questions_per_user']} per user); completion reader {settings['model']}, "
            f"contexts of at most {settings['context_tokens']} tokens; 95% bootstrap intervals over users.\n\n")
    variants = markdown_table(["variant", "MAE", "RMSE"],
                              [[name, _cell(m["MAE"]), _cell(m["RMSE"])] for name, m in report["variants"].items()])
    differences = markdown_table(["difference", "MAE", "RMSE"],
                                 [[name, _cell(m["MAE"]), _cell(m["RMSE"])] for name, m in report["differences"].items()])
    stated = [
        f"- {variant}: {s['stating']} of {s['users']} users' profiles state a number after {settings['stated_after']!r};"
        f" Pearson r with the history mean {'n/a' if s['pearson_r_history_mean'] is None else format(s['pearson_r_history_mean'], '.3f')}"
        for variant, s in report.get("stated", {}).items()
    ]
    stated_block = "\n".join(stated) + "\n\n" if stated else ""
    return f"{head}{stated_block}{variants}\n\n{differences}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reader_check.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", type=Path, required=True, help="LaMP-format folder of a rating task")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--task", default=None, help="task name (default: the outputs file's)")
    parser.add_argument("--questions_per_user", type=int, default=5)
    parser.add_argument("--profiles", type=Path, required=True, help='JSON lines of {"user_id", "profile"} (bump-downstream writes profiles.jsonl)')
    parser.add_argument("--untrained_profiles", type=Path, default=None)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="the completion reader (alias, folder or Hub id)")
    parser.add_argument("--stated_after", default=None, metavar="TEXT",
                        help="also answer with the number each profile states after TEXT (variants stated_*)")
    parser.add_argument("--history_items", type=int, default=8)
    parser.add_argument("--context_tokens", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--samples", type=int, default=1000, help="bootstrap resamples of users")
    parser.add_argument("--seed", type=int, default=0, help="seeds the derangement and the bootstrap")
    parser.add_argument("--out", type=Path, required=True, help="new folder for predictions.jsonl, reader_check.json/.md")
    args = parser.parse_args(argv)
    if args.out.exists():
        print(f"reader_check.py: error: {args.out}: already exists (--out must be a new folder)", file=sys.stderr)
        return 1
    try:
        rows, report, text = reader_check(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"reader_check.py: error: {error}", file=sys.stderr)
        return 1
    write_report_folder(args.out, "predictions.jsonl", rows, "reader_check", report, text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
