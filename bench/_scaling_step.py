"""The pieces of ``scaling.py``: synthetic users for U users a batch, a judge that clocks itself,
and seconds per ``BumpModule`` training step through a real Lightning ``Trainer``.

The step runs bump-pl's real training path: ``Trainer(max_steps=steps).fit(BumpModule, BumpDataModule)``
with synthetic LaMP-3 users, ``users_per_batch = U``. Every rollout is exactly ``max_new_tokens``
long (``SamplingSettings.min_new_tokens``, as in ``vs_trl.py``), so a step's cost does not
depend on when a random policy happens to emit EOS. A callback stamps the start and the end of
every training batch; the judge wrapper adds up the seconds spent inside ``judge.score`` so the
judge's share of each step is known too.
"""

from __future__ import annotations

import functools
import logging
import math
import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from _measure import median_after_warmup, stamp, step_durations

from bump_pl.data import BumpDataModule, SyntheticUsers, UserGroupBatch
from bump_pl.judges import Direction, Judge
from bump_pl.models.lora import LoraSettings
from bump_pl.models.rollout import SamplingSettings

TRAIN_FRACTION = 0.7  # write_synthetic_lamp puts 70% of the users in the train split


@dataclass(frozen=True)
class StepSettings:
    """What every timed step shares (the flags of ``scaling.py``).

    Attributes:
        policy: generator model (alias, folder, GGUF path or Hub id).
        group_size: ``G`` rollouts per user.
        heldout: ``K`` held-out interactions per user.
        max_new_tokens: exact completion length of every rollout.
        prompt_tokens: prompt budget (``BumpDataModule.max_prompt_tokens``): the most recent history
            items that fit; a budget, not an exact length.
        steps: training steps per point; the first is a warm-up and is not in the median.
        seed: seeds the synthetic users and Lightning.
    """

    policy: str = "tiny-random-llama"
    group_size: int = 4
    heldout: int = 2
    max_new_tokens: int = 16
    prompt_tokens: int = 512
    steps: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.group_size < 2:
            problems.append(f"--group-size must be >= 2 (GRPO groups), got {self.group_size}")
        if self.steps < 2:
            problems.append(f"--steps must be >= 2 (the first step is a warm-up), got {self.steps}")
        if min(self.heldout, self.max_new_tokens, self.prompt_tokens) < 1:
            problems.append("--heldout, --max-new-tokens and --prompt-tokens must be >= 1")
        if problems:
            raise ValueError("; ".join(problems))


def synthetic_data(settings: StepSettings, users: int, tokenizer: Any) -> BumpDataModule:
    """A DataModule of synthetic LaMP-3 users with ``users`` a batch and enough train users for
    ``settings.steps`` batches in one epoch (no epoch boundary inside the timed steps)."""
    num_users = math.ceil(users * settings.steps / TRAIN_FRACTION) + 4
    return BumpDataModule(
        synthetic=SyntheticUsers(
            task="LaMP_3", num_users=num_users, seed=settings.seed, items_per_user=10, words_per_item=8
        ),
        tokenizer=tokenizer,
        users_per_batch=users,
        heldout_per_user=settings.heldout,
        min_context_items=2,
        max_prompt_tokens=settings.prompt_tokens,
        seed=settings.seed,
    )


def first_train_batch(data: BumpDataModule) -> UserGroupBatch:
    """The first train batch of ``data`` without a trainer (rank 0 of 1)."""
    data.rank, data.world_size = 0, 1
    data.setup("fit")
    return next(iter(data.train_dataloader()))


class TimedJudge:
    """A :class:`~bump_pl.judges.Judge` that forwards to ``inner`` and adds the wall seconds of every
    ``score`` call to :attr:`seconds` (so a step's judge time is the difference across the step)."""

    def __init__(self, inner: Judge) -> None:
        self.inner = inner
        self.symmetric = inner.symmetric
        self.seconds = 0.0

    @property
    def device(self) -> torch.device:
        return self.inner.device

    def to(self, device: str | torch.device) -> TimedJudge:
        self.inner.to(device)
        return self

    def score(self, queries: list[str], candidates: list[str], direction: Direction) -> Tensor:
        """``[Q, C]`` scores of ``inner``, timed."""
        start = time.perf_counter()
        scores = self.inner.score(queries, candidates, direction)
        self.seconds += time.perf_counter() - start
        return scores


@dataclass
class StepTimes:
    """Figures of one (judge, U) point.

    Attributes:
        step_seconds: wall seconds of every training step (warm-up first).
        s_per_step: median of ``step_seconds`` after the warm-up step.
        cpu_s_per_step: the same in CPU seconds of this process (steadier on a shared machine).
        judge_in_step_s: median seconds spent in ``judge.score`` per step, after the warm-up step.
        completion_length: mean tokens per rollout over all steps (``max_new_tokens`` when exact).
    """

    step_seconds: list[float]
    s_per_step: float
    cpu_s_per_step: float
    judge_in_step_s: float
    completion_length: float


def time_training_steps(judge: Judge, users: int, settings: StepSettings, log_dir: str) -> StepTimes:
    """Fit ``BumpModule(judge)`` for ``settings.steps`` steps on ``users`` users a batch; time each step."""
    from lightning.pytorch import Callback, Trainer, seed_everything

    from bump_pl.module import BumpModule

    timed = TimedJudge(judge)
    stamps: list[tuple[float, float]] = []
    judge_seconds: list[float] = []
    lengths: list[float] = []

    class StepClock(Callback):
        """Stamps each training batch's start and end; keeps its judge seconds and completion length."""

        def on_train_batch_start(self, trainer: Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
            judge_seconds.append(-timed.seconds)
            stamps.append(stamp())

        def on_train_batch_end(
            self, trainer: Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
        ) -> None:
            stamps.append(stamp())
            judge_seconds[-1] += timed.seconds
            lengths.append(float(trainer.callback_metrics["train/completion_length/mean"]))

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # keep the table readable
    seed_everything(settings.seed, verbose=False)
    module = BumpModule(
        model=settings.policy,
        judge=timed,
        lora=LoraSettings(rank=4, alpha=8, dropout=0.0),
        group_size=settings.group_size,
        sampling=SamplingSettings(
            max_new_tokens=settings.max_new_tokens, min_new_tokens=settings.max_new_tokens, temperature=1.0
        ),
        log_samples_every_n_steps=0,
        # the optimizer `bump fit --optimizer AdamW` would give it
        optimizer=functools.partial(torch.optim.AdamW, lr=1e-5, weight_decay=0.0),
    )
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=settings.steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        default_root_dir=log_dir,
        callbacks=[StepClock()],
    )
    data = synthetic_data(settings, users, module.tokenizer)
    trainer.fit(module, datamodule=data)
    # start/end pairs -> durations of the steps only (data loading between steps is not counted)
    walls = step_durations([wall for wall, _ in stamps])[::2]
    cpus = step_durations([cpu for _, cpu in stamps])[::2]
    return StepTimes(
        step_seconds=walls,
        s_per_step=median_after_warmup(walls),
        cpu_s_per_step=median_after_warmup(cpus),
        judge_in_step_s=median_after_warmup(judge_seconds),
        completion_length=statistics.fmean(lengths),
    )
