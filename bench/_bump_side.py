"""bump-pl's side of ``vs_trl.py``: the BUMP workload through ``BumpModule`` and a Lightning ``Trainer``.

This is bump-pl's real training path: ``Trainer(max_steps=steps).fit(BumpModule(...))``, one
``training_step`` (rollouts -> judge -> reward -> advantages -> loss -> one optimizer step) per
batch. The batch is the workload's ``U`` users with their exact-length prompt ids (the same ids
TRL tokenizes), yielded once per step, so both sides train on the same users every step.

Matched to TRL's side: the same model and tokenizer loaders, ``LoraSettings(rank, alpha)``,
AdamW (lr as given, no weight decay), gradient clipping at 1, ``loss_type="grpo"``,
group-scaled advantages, one iteration per batch, the same ``beta``.

Exact completion length: TRL uses ``min_new_tokens``, a sampling-time logits processor that
masks the stop tokens; bump-pl's ``SamplingSettings(min_new_tokens=...)`` is the same option, so
training (and reference) log-probs see the unmasked distribution on both sides. The optimizer is
injected through ``BumpModule(optimizer=...)``: nothing of the module is patched.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from _measure import SideResult, stamp
from _workload import Workload


def build_bump_module(workload: Workload) -> Any:
    """The ``BumpModule`` of the workload's settings: exact-length rollouts, AdamW without weight decay."""
    from bump_pl.core.grpo import GRPOSettings
    from bump_pl.judges import EmbeddingJudge
    from bump_pl.models.lora import LoraSettings
    from bump_pl.models.rollout import SamplingSettings
    from bump_pl.module import BumpModule

    s = workload.settings
    budget = {} if s.bump_grad_budget_tokens is None else {"grad_budget_tokens": s.bump_grad_budget_tokens}
    return BumpModule(
        model=s.model,
        judge=EmbeddingJudge(model=s.judge),
        lora=LoraSettings(rank=s.lora_rank, alpha=s.lora_alpha),
        group_size=s.group_size,
        sampling=SamplingSettings(
            max_new_tokens=s.completion_tokens, min_new_tokens=s.completion_tokens, temperature=s.temperature
        ),
        grpo=GRPOSettings(beta=s.beta, loss_type="grpo", advantage_scale="group", num_iterations=1),
        log_samples_every_n_steps=0,
        max_grad_norm=1.0,
        # What `bump fit --optimizer AdamW` sets up through LightningCLI.
        optimizer=functools.partial(torch.optim.AdamW, lr=s.learning_rate, weight_decay=0.0),
        **budget,
    )


def run_bump(workload: Workload, log_dir: str) -> SideResult:
    """Train ``settings.steps`` steps of ``BumpModule`` with a Lightning ``Trainer`` and measure them."""
    from lightning.pytorch import Callback, Trainer, seed_everything
    from torch.utils.data import DataLoader

    from bump_pl.data.batch import UserGroupBatch
    from bump_pl.token_padding import pad_token_ids

    s = workload.settings
    seed_everything(s.seed, verbose=False)
    module = build_bump_module(workload)
    pad_id = module.tokenizer.pad_token_id
    input_ids, attention_mask = pad_token_ids(workload.prompt_ids, pad_id, "left")
    batch = UserGroupBatch(
        user_ids=workload.user_ids,
        prompts=workload.prompts,
        heldout=workload.heldout,
        context=[[] for _ in workload.user_ids],
        input_ids=input_ids,
        attention_mask=attention_mask,
    )
    stamps: list[tuple[float, float]] = []
    rewards: list[float] = []
    lengths: list[float] = []

    class StepClock(Callback):
        """Stamps the start of training and the end of every training step (= one optimizer step);
        keeps the step's logged mean reward and completion length."""

        def on_train_start(self, trainer, pl_module):
            stamps.append(stamp())

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            stamps.append(stamp())
            rewards.append(float(trainer.callback_metrics["train/reward"]))
            lengths.append(float(trainer.callback_metrics["train/completion_length/mean"]))

    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=s.steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        default_root_dir=log_dir,
        callbacks=[StepClock()],
    )
    loader = DataLoader([batch] * s.steps, batch_size=None)
    trainer.fit(module, train_dataloaders=loader)
    return SideResult.from_run("bump", stamps, rewards, lengths)
