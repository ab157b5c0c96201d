"""The judge-level ladder of a ``bump fit`` run on every validation user, with paired bootstrap intervals.

    python experiments/ladder.py runs/experiments/quick-20261130-075730/version_0 --out runs/ladder-quick

Validation (:mod:`bump_pl.validation`) logs only means, over the batches ``limit_val_batches``
allows. This script scores, with the run's own judge and reward settings, one text per user and
source on every full group of the run's validation split (the data module's ``val_dataloader``, the
in-batch negatives validation uses; a last partial group is dropped, as there):

- ``untrained_profile``: greedy profile of the generator without the trained weights;
- ``trained_profile``: greedy profile of the checkpoint's generator;
- ``history_budget``, ``history_full``: the user's history cut to ``sampling.max_new_tokens``
  policy tokens (most recent kept), and whole (:func:`bump_pl.validation.history_baselines`).

Per user: ``profile_to_item`` (the text ranks the group's held-out items, the user's K relevant),
``item_to_profile`` (each of the user's K items ranks the group's texts, averaged) and ``ndcg``
(their ``reward.alpha`` mix), through :func:`bump_pl.verdict.rollout_ndcg` with one text per
user (``G = 1``). Per source: the mean over users with a 95% percentile bootstrap interval; and
``trained_profile - X`` for every other source on the same resamples of users (paired).

The run is rebuilt from its folder: the judge, ``model.reward`` and ``data`` from ``config.yaml``
(relative paths from the current folder, as ``bump fit`` read them), the generator from the
checkpoint. ``--heldout_template FILE`` scores against held-out items written by that overlay's
``data.heldout_template`` instead of the run's (``none``: as the prompt renders them), so runs
trained against differently written items are compared on one writing; ``--judge FILE`` scores with
that config's ``model.judge`` (runs trained against different judges, scored by one); ``--negatives global`` ranks
a run trained with ``hybrid`` negatives against every other user of its group, as the others are
ranked. ``--out`` (new) receives ``scores.jsonl`` (one row per user and source), ``ladder.json``,
``ladder.md`` (also printed) and ``ladder.png`` (each source's NDCG with its interval), all written at the end.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from plots import interval_plot
from report_folder import write_report_folder

from bump_pl.core.reward import RewardSettings
from bump_pl.data import BumpDataModule, UserGroupBatch
from bump_pl.data.interactions import InteractionsSource
from bump_pl.data.item_template import ItemTemplate
from bump_pl.data.synthetic import SyntheticUsers
from bump_pl.downstream.bootstrap import Interval, percentile_interval, resample_indices
from bump_pl.judges.base import Judge
from bump_pl.judges.config import build_judge
from bump_pl.markdown_table import markdown_table
from bump_pl.models.generator import ProfileGenerator
from bump_pl.models.rollout import SamplingSettings
from bump_pl.runs.checkpoints import CheckpointError, read_checkpoint
from bump_pl.validation import history_baselines
from bump_pl.verdict import judge_scores, rollout_ndcg

SOURCES = ("untrained_profile", "trained_profile", "history_budget", "history_full")
REFERENCE = "trained_profile"
METRICS = ("ndcg", "profile_to_item", "item_to_profile")
#: ``settings.heldout`` of a ladder whose held-out items read as the prompt renders them.
PLAIN_HELDOUT = "as the prompt renders them"


def heldout_writing(template: ItemTemplate | None) -> str:
    """``settings.heldout``: the template and its value words, so that ``compare.py`` tells apart two
    ladders whose templates agree but whose words differ (``PLAIN_HELDOUT`` without a template)."""
    if template is None:
        return PLAIN_HELDOUT
    words = f" with value_words {json.dumps(template.value_words, sort_keys=True)}" if template.value_words else ""
    return f"template {template.template!r}{words}"


def ranking(reward: str) -> str:
    """``settings.reward`` as :func:`ladder` writes it (``"alpha A, ndcg_k N, negatives X"``) without
    the mix weight: how the ladder ranked, which ``compare.py`` requires to agree across runs."""
    return re.sub(r"^alpha [^,]*, ", "", reward)


class LadderError(Exception):
    """Bad input: ``"{path}: {problem}"``, printed as one line."""


def user_scores(
    judge: Judge, texts: list[str], heldout: list[list[str]], settings: RewardSettings
) -> dict[str, torch.Tensor]:
    """``{metric: [U]}`` of one group: each user's text (``texts[u]``) against the group's ``U*K``
    held-out items (``heldout[u]``, ``K`` each) in both directions, in-batch negatives as
    validation has them (``settings.negatives``), and their ``settings.alpha`` mix (``ndcg``); NDCG
    whatever ``settings.measure`` trained with, as validation."""
    scores = judge_scores(judge, texts, heldout, settings)
    num_users, heldout_per_user = len(heldout), len(heldout[0])
    reward = rollout_ndcg(scores, num_users=num_users, group_size=1, heldout_per_user=heldout_per_user, settings=settings)
    return {"ndcg": reward.total, "profile_to_item": reward.profile_to_item, "item_to_profile": reward.item_to_profile}


def paired_bootstrap(
    values: Mapping[str, Mapping[str, np.ndarray]],
    reference: str,
    *,
    samples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[dict[str, dict[str, Interval]], dict[str, dict[str, Interval]]]:
    """Means over users with intervals, and ``reference - s`` for every other source ``s``, paired.

    Args:
        values: ``{source: {metric: [N]}}`` per-user scores, the same ``N`` users in the same order.
        reference: the source the differences start from.

    Returns:
        ``({source: {metric: interval}}, {"reference - s": {metric: interval}})``; one set of
        ``samples`` resamples of the users (seeded) serves every source and difference.
    """
    num_users = len(next(iter(values[reference].values())))
    draws = resample_indices(num_users, samples, seed)  # [B, N]
    means = {
        source: {name: percentile_interval(v.mean(), v[draws].mean(axis=1), level) for name, v in metrics.items()}
        for source, metrics in values.items()
    }
    differences = {
        f"{reference} - {source}": {
            name: percentile_interval(
                values[reference][name].mean() - values[source][name].mean(),
                (values[reference][name] - values[source][name])[draws].mean(axis=1),
                level,
            )
            for name in values[reference]
        }
        for source in values
        if source != reference
    }
    return means, differences


def read_run(run_dir: Path, checkpoint: Path | None) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """``(checkpoint path, checkpoint, config)`` of a run folder (``config.yaml``, ``checkpoints/last.ckpt``).

    Raises:
        LadderError: the folder, its config or the checkpoint is missing or unreadable.
    """
    if not run_dir.is_dir():
        raise LadderError(f"{run_dir}: no such run folder")
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise LadderError(f"{config_path}: missing (not a bump fit run folder?)")
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict) or not isinstance(config.get("data"), dict):
        raise LadderError(f"{config_path}: not a bump fit config (no model: and data: sections)")
    path = checkpoint or run_dir / "checkpoints" / "last.ckpt"
    try:
        return path, read_checkpoint(path), config
    except CheckpointError as error:
        raise LadderError(str(error)) from None


def data_module(config: Mapping[str, Any], config_path: Path, generator: ProfileGenerator,
                overrides: Mapping[str, Any] = {}) -> BumpDataModule:
    """The run's data module as ``bump fit`` built it (tokenizer and profile prompt: the generator's,
    which ``bump fit`` links to ``model.model`` and ``model.profile_prompt``); ``overrides`` replace
    the run's data settings (``users_per_batch``: runs trained with different U scored on the same
    groups; ``heldout_template``: on the same writing of the held-out items)."""
    data = {**config["data"], **overrides}
    if data.get("synthetic") is not None:
        data["synthetic"] = SyntheticUsers(**data["synthetic"])
    if data.get("interactions") is not None:
        data["interactions"] = InteractionsSource(**data["interactions"])
    if data.get("heldout_template") is not None:
        data["heldout_template"] = ItemTemplate(**data["heldout_template"])
    if data.get("data_dir") is not None and not Path(data["data_dir"]).is_dir():
        raise LadderError(f"{config_path}: data.data_dir {data['data_dir']} is no folder from {Path.cwd()}"
                          " (run from the folder bump fit ran in)")
    return BumpDataModule(**data, tokenizer=generator.tokenizer, profile_prompt=generator.profile_prompt)


def _config_entry(path: Path, section: str, key: str) -> Any:
    """``section.key`` of a config or overlay YAML (None when it has none)."""
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise LadderError(f"{path}: unreadable ({' '.join(str(error).split())})") from None
    return ((config or {}).get(section) or {}).get(key) if isinstance(config, dict) else None


def read_judge(path: Path) -> dict[str, Any]:
    """``model.judge`` of a config or overlay YAML (a ``class_path`` mapping)."""
    judge = _config_entry(path, "model", "judge")
    if not isinstance(judge, dict) or not isinstance(judge.get("class_path"), str):
        raise LadderError(f"{path}: no model.judge mapping with a class_path")
    return judge


def read_heldout_template(source: str) -> dict[str, Any] | None:
    """``data.heldout_template`` of an overlay YAML (checked), or None for ``"none"``."""
    if source == "none":
        return None
    path = Path(source)
    template = _config_entry(path, "data", "heldout_template")
    if not isinstance(template, dict):
        raise LadderError(f"{path}: no data.heldout_template mapping (template, value_words)")
    try:
        ItemTemplate(**template)
    except (TypeError, ValueError) as error:
        raise LadderError(f"{path}: {' '.join(str(error).split())}") from None
    return template


def greedy_profiles(generator: ProfileGenerator, batches: Sequence[UserGroupBatch]) -> list[list[str]]:
    """One greedy profile per user of each batch (policy in eval mode)."""
    generator.policy.eval()
    return [generator.profiles(batch.to(generator.device)) for batch in batches]


def ladder_rows(judge: Judge, settings: RewardSettings, batches: Sequence[UserGroupBatch],
                texts: Mapping[str, Sequence[list[str]]]) -> list[dict[str, Any]]:
    """One row per user and source: ``user_id``, ``group`` (batch index), ``source``, the three
    NDCGs, the ``text``; users in batch order, sources in ``texts``' order within each group."""
    rows = []
    for group, batch in enumerate(batches):
        for source, per_batch in texts.items():
            scored = user_scores(judge, per_batch[group], batch.heldout, settings)
            scores = {name: values.tolist() for name, values in scored.items()}
            for u, user_id in enumerate(batch.user_ids):
                rows.append({"user_id": user_id, "group": group, "source": source,
                             **{name: scores[name][u] for name in METRICS}, "text": per_batch[group][u]})
    return rows


def per_source(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    """``{source: {metric: [N]}}`` from :func:`ladder_rows`' rows (users in row order)."""
    sources = dict.fromkeys(row["source"] for row in rows)
    return {
        s: {m: np.array([row[m] for row in rows if row["source"] == s], dtype=np.float64) for m in METRICS}
        for s in sources
    }


def _cell(interval: Interval, signed: bool = False) -> str:
    value = f"{interval['value']:+.3f}" if signed else f"{interval['value']:.3f}"
    return f"{value} [{interval['low']:.3f}, {interval['high']:.3f}]"


def markdown(settings: Mapping[str, Any], means: Mapping[str, Mapping[str, Interval]],
             differences: Mapping[str, Mapping[str, Interval]], title: str = "Judge-level ladder") -> str:
    """The settings, the ladder (mean [95% interval] per source) and the paired differences."""
    lines = [f"# {title}", "", *(f"- {name}: {value}" for name, value in settings.items()), ""]
    columns = ["NDCG", "profile→item", "item→profile"]
    lines.append(markdown_table(["source", *columns], ([s, *(_cell(m[n]) for n in METRICS)] for s, m in means.items())))
    lines.append("")
    lines.append(markdown_table(
        ["paired difference", *columns], ([d, *(_cell(m[n], signed=True) for n in METRICS)] for d, m in differences.items())
    ))
    return "\n".join(lines) + "\n"


def ladder(
    run_dir: Path, checkpoint: Path | None, *, samples: int, seed: int, device: str,
    data_overrides: Mapping[str, Any] = {}, reward_overrides: Mapping[str, Any] = {},
    judge_override: Mapping[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """``(rows, ladder.json, ladder.md)`` of a run (nothing written); ``data_overrides`` replace the
    run's data settings (see :func:`data_module`), ``reward_overrides`` its reward settings
    (``negatives``: a run trained with ``hybrid`` scored on every negative, as the others are),
    ``judge_override`` its judge (a ``model.judge`` entry: runs trained against different judges
    scored by one)."""
    path, state, config = read_run(run_dir, checkpoint)
    torch.manual_seed(seed)
    settings = RewardSettings(**{**(config["model"].get("reward") or {}), **reward_overrides})
    budget = SamplingSettings(**(config["model"].get("sampling") or {})).max_new_tokens
    # the config's judge; a config that left it to the module's default: the one the checkpoint recorded
    judge_entry = judge_override or config["model"].get("judge") or state["hyper_parameters"]["judge"]
    judge = build_judge(judge_entry).to(device)
    trained = ProfileGenerator.from_checkpoint(state).to(device)
    tokenizer = trained.tokenizer
    data = data_module(config, run_dir / "config.yaml", trained, data_overrides)
    data.setup("validate")
    batches = list(data.val_dataloader())
    with torch.inference_mode():
        texts = {"trained_profile": greedy_profiles(trained, batches)}
        del trained
        untrained = ProfileGenerator.from_checkpoint(state, trained=False).to(device)
        texts = {"untrained_profile": greedy_profiles(untrained, batches), **texts}
        del untrained
        history = [history_baselines(batch.context, tokenizer, budget) for batch in batches]
        texts.update({source: [h[source] for h in history] for source in ("history_budget", "history_full")})
        rows = ladder_rows(judge, settings, batches, texts)
    means, differences = paired_bootstrap(per_source(rows), REFERENCE, samples=samples, seed=seed)
    scored, split = len(batches) * data.users_per_batch, len(data.datasets["val"])
    groups, dropped = len(batches), split - scored
    described = {
        "checkpoint": f"{path} (step {state.get('global_step', '?')})",
        "judge": f"{judge_entry.get('class_path')}(model={(judge_entry.get('init_args') or {}).get('model')})",
        "users": f"{scored} of {split} validation users scored,"
                 f" {groups} group{'s' * (groups != 1)} of {data.users_per_batch}"
                 + (f"; the last partial group ({dropped} users) dropped" if dropped else "; no partial group")
                 + f" ({data.skipped_users.get('val', 0)} users with too few items left out by the data module)",
        "K": f"{data.heldout_per_user} held-out items per user",
        "heldout": heldout_writing(data.heldout_template),
        "budget": f"history_budget cut to {budget} policy tokens (sampling.max_new_tokens)",
        "reward": f"alpha {settings.alpha}, ndcg_k {settings.ndcg_k}, negatives {settings.negatives}",
        "bootstrap": f"{samples} paired resamples of users, seed {seed}, 95% percentile intervals",
    }
    report = {"settings": described, "sources": means, "differences": differences}
    return rows, report, markdown(described, means, differences)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ladder.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a bump fit run folder (config.yaml, checkpoints/last.ckpt)")
    parser.add_argument("--out", type=Path, required=True, help="new folder for scores.jsonl, ladder.json, ladder.md, ladder.png")
    parser.add_argument("--ckpt", type=Path, default=None, help="checkpoint (default: RUN/checkpoints/last.ckpt)")
    parser.add_argument("--samples", type=int, default=1000, help="bootstrap resamples of users")
    parser.add_argument("--seed", type=int, default=0, help="seeds torch and the bootstrap")
    parser.add_argument("--device", default="cpu", help="where the generator and the judge run")
    parser.add_argument("--users_per_batch", type=int, default=None,
                        help="in-batch group size (default: the run's data.users_per_batch)")
    parser.add_argument("--heldout_template", default=None, metavar="YAML|none",
                        help="score against held-out items written by this overlay's data.heldout_template"
                             " (none: as the prompt renders them); default: the run's")
    parser.add_argument("--negatives", choices=("local", "global", "hybrid"), default=None,
                        help="in-batch negatives to rank against (default: the run's model.reward.negatives);"
                             " global ranks every other user of the group")
    parser.add_argument("--judge", type=Path, default=None, metavar="YAML",
                        help="score with this config's or overlay's model.judge (default: the run's);"
                             " e.g. configs/movielens_minilm.yaml, the MiniLM yardstick")
    args = parser.parse_args(argv)
    try:
        if args.out.exists():
            raise LadderError(f"{args.out}: already exists (--out must be a new folder)")
        overrides: dict[str, Any] = {}
        if args.users_per_batch is not None:
            overrides["users_per_batch"] = args.users_per_batch
        if args.heldout_template is not None:
            overrides["heldout_template"] = read_heldout_template(args.heldout_template)
        rows, report, text = ladder(args.run, args.ckpt, samples=args.samples, seed=args.seed, device=args.device,
                                    data_overrides=overrides,
                                    reward_overrides={} if args.negatives is None else {"negatives": args.negatives},
                                    judge_override=None if args.judge is None else read_judge(args.judge))
    except LadderError as error:
        print(f"ladder.py: error: {error}", file=sys.stderr)
        return 1
    means = {source: source_means["ndcg"] for source, source_means in report["sources"].items()}
    write_report_folder(args.out, "scores.jsonl", rows, "ladder", report, text, draw=lambda folder: interval_plot(
        means, folder / "ladder.png", title=f"Judge-level ladder: {args.run}",
        xlabel="NDCG (alpha mix), mean and 95% interval over users"))
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
