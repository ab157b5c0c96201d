"""One downstream LaMP evaluation of profiles against the ``no_profile``, ``recent_history`` and
``retrieved_history`` baselines and, on request, ``other_user_profile`` and ``untrained_profile``.

``untrained_profile`` holds the profiles the same generator wrote before training (``bump-downstream
--ckpt CKPT --untrained_profile``): ``profile - untrained_profile`` is the paper's trained-versus-
prompted comparison, paired on the same questions and judged by the same downstream model.
``other_user_profile`` shows each user another user's profile (:mod:`bump_pl.downstream.other_user`):
``profile - other_user_profile`` is what the profile says about *this* user, beyond its format.
For every variant (see :mod:`bump_pl.downstream.prompts`) the same eval questions are
answered greedily (:mod:`bump_pl.downstream.report` scores them with LaMP's official metric) and,
for tasks with a label set, by rank classification (:mod:`bump_pl.downstream.options`: the
likelihood of each label option).
``zero_shot`` prompts the backbone as is (loaded once for all variants); ``sft`` trains a fresh
LoRA adapter per variant on the train users' questions, with that variant's prompts, so each
variant is judged by a model that learned to use its kind of context. No Lightning here.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from bump_pl.downstream.model import add_lora, generate_answers, load_backbone, load_backbone_tokenizer, sft
from bump_pl.downstream.options import label_options, option_logprobs, rank_predictions
from bump_pl.downstream.other_user import other_user_profiles
from bump_pl.downstream.prompts import OTHER_USER_PROFILE, UNTRAINED_PROFILE, VARIANTS, PromptBuilder, Variant
from bump_pl.downstream.result import DownstreamResult, RankClassification
from bump_pl.downstream.settings import DownstreamSettings
from bump_pl.data import LampExample, TaskSpec, UserHistory

ProfileMap = dict[tuple[str, str], str]  # (user_id, split) -> profile


@dataclass
class Questions:
    """The questions of one split's users (at most ``limit``), with their users and golds.

    Each user's history is what every context of their questions is built from: the whole history
    (LaMP's protocol), or the history before the questions asked
    (:func:`bump_pl.downstream.held_out.ask_last`)."""

    split: str
    pairs: list[tuple[UserHistory, LampExample]]

    @classmethod
    def of(cls, users: list[UserHistory], split: str, limit: int | None) -> Questions:
        pairs = [(user, question) for user in users for question in user.questions][:limit]
        missing = [question.id for _, question in pairs if question.output is None]
        if missing:
            raise ValueError(f"{split}: questions {missing[:3]} have no gold output (is the split's outputs file missing?)")
        if not pairs:
            raise ValueError(f"{split}: no LaMP questions to evaluate on")
        return cls(split, pairs)

    def prompts(self, builder: PromptBuilder, variant: Variant, profiles: ProfileMap) -> list[str]:
        return [builder(variant, user, question, profiles.get((user.user_id, self.split))) for user, question in self.pairs]

    @property
    def user_ids(self) -> list[str]:
        """The user of each question, in question order."""
        return [user.user_id for user, _ in self.pairs]

    @property
    def users(self) -> list[UserHistory]:
        """Each user once, in order of their first question."""
        return list({user.user_id: user for user, _ in self.pairs}.values())

    @property
    def answers(self) -> list[str]:
        """Gold outputs, in question order."""
        return [str(question.output) for _, question in self.pairs]

    @property
    def golds(self) -> dict[str, str]:
        """``{question id: gold output}`` in question order."""
        golds = {question.id: str(question.output) for _, question in self.pairs}
        if len(golds) != len(self.pairs):
            raise ValueError(f"{self.split}: question ids are not unique")
        return golds


def run_downstream(
    settings: DownstreamSettings,
    task: TaskSpec,
    profiles: ProfileMap,
    train: Questions | None,
    evaluation: Questions,
    device: torch.device | str = "cpu",
    *,
    untrained_profiles: ProfileMap | None = None,
    other_user_profile: bool = False,
) -> DownstreamResult:
    """Evaluate every variant on ``evaluation`` with the backbone on ``device``; ``train`` is needed for ``sft`` only.

    The variants are :data:`~bump_pl.downstream.prompts.VARIANTS`, then ``other_user_profile`` when
    ``other_user_profile`` (each user of a split given another's profile of ``profiles``, deranged by
    ``settings.seed``), then ``untrained_profile`` when ``untrained_profiles`` (keyed as ``profiles``:
    the untrained generator's) is given. When the metric task has a label set, the label options are
    also scored (``rank_classification``). Runs under a forked, seeded torch RNG so it neither depends
    on nor disturbs the training run's random state.
    """
    if settings.mode == "sft" and train is None:
        raise ValueError("downstream mode 'sft' needs train questions")
    golds = evaluation.golds
    settings = settings.for_task(task.name)
    metric_task = settings.metric_task
    options = label_options(metric_task)
    result = DownstreamResult(settings, metric_task, list(golds), evaluation.user_ids)
    if options is not None:
        result.rank_classification = RankClassification(metric_task, list(options))
    profile_maps: dict[Variant, ProfileMap] = dict.fromkeys(VARIANTS, profiles)  # each variant's profiles
    if other_user_profile:
        by_split = {questions.split: questions.user_ids for questions in (train, evaluation) if questions is not None}
        profile_maps[OTHER_USER_PROFILE] = other_user_profiles(profiles, by_split, settings.seed)
    if untrained_profiles is not None:
        profile_maps[UNTRAINED_PROFILE] = untrained_profiles
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        tokenizer = load_backbone_tokenizer(settings.backbone, settings.architecture)
        builder = PromptBuilder(
            task,
            tokenizer,
            settings.architecture,
            settings.context_tokens,
            settings.history_items,
            settings.max_question_tokens,
        )
        zero_shot = settings.mode == "zero_shot"
        shared = load_backbone(settings.backbone, settings.architecture, settings.dtype, device) if zero_shot else None
        for variant, texts in tqdm(profile_maps.items(), desc="downstream variants", dynamic_ncols=True):
            if shared is not None:
                model = shared
            else:
                model, losses = _trained_model(settings, tokenizer, builder, variant, texts, train, device)
                result.sft_loss = {**(result.sft_loss or {}), variant: [losses[0], losses[-1]]}
            prompts = evaluation.prompts(builder, variant, texts)
            answers = generate_answers(
                model,
                tokenizer,
                settings.architecture,
                prompts,
                max_answer_tokens=settings.max_answer_tokens,
                batch_size=settings.eval_batch_size,
                desc=f"answers {variant}",
            )
            result.answers[variant] = answers
            records = [
                {
                    "variant": variant,
                    "id": question.id,
                    "user_id": user.user_id,
                    "prompt": prompt,
                    "prediction": answer,
                    "gold": golds[question.id],
                }
                for (user, question), prompt, answer in zip(evaluation.pairs, prompts, answers)
            ]
            if result.rank_classification is not None:
                _add_rank_predictions(settings, model, tokenizer, prompts, variant, result.rank_classification, records)
            result.records.extend(records)
            del model
            gc.collect()
    return result


def _add_rank_predictions(
    settings: DownstreamSettings,
    model: torch.nn.Module,
    tokenizer: Any,
    prompts: list[str],
    variant: Variant,
    rank: RankClassification,
    records: list[dict[str, Any]],
) -> None:
    """Score the label options after ``variant``'s ``prompts``: into ``rank.predictions[kind][variant]``
    and into each question's record (``"option_logprobs"`` and ``"prediction@<kind>"``)."""
    logprobs = option_logprobs(
        model,
        tokenizer,
        settings.architecture,
        prompts,
        rank.options,
        batch_size=settings.eval_batch_size,
        desc=f"options {variant}",
    )
    predictions = rank_predictions(logprobs, rank.metric_task)
    for kind, answers in predictions.items():
        rank.predictions.setdefault(kind, {})[variant] = answers
    for position, (record, scores) in enumerate(zip(records, logprobs.tolist())):
        record["option_logprobs"] = dict(zip(rank.options, scores))
        record.update({f"prediction@{kind}": answers[position] for kind, answers in predictions.items()})


def _trained_model(
    settings: DownstreamSettings,
    tokenizer: Any,
    builder: PromptBuilder,
    variant: Variant,
    profiles: ProfileMap,
    train: Questions,
    device: torch.device | str,
) -> tuple[torch.nn.Module, list[float]]:
    """A fresh backbone with a new LoRA adapter, fine-tuned on ``train`` with ``variant``'s prompts, and its losses.

    Every variant's adapter starts from the same seeded initialisation and sees the questions in the
    same order, so two variants differ only in their prompts (identical prompts: identical models)."""
    base = load_backbone(settings.backbone, settings.architecture, settings.dtype, device)
    torch.manual_seed(settings.seed)
    model = add_lora(base, settings.lora, settings.architecture)
    losses = sft(
        model,
        tokenizer,
        settings.architecture,
        train.prompts(builder, variant, profiles),
        train.answers,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        seed=settings.seed,
        desc=f"SFT {variant}",
    )
    return model, losses
