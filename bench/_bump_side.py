"""bump-pl's side of ``vs_trl.py``: the BUMP workload through ``BumpModule`` and a Lightning ``Trainer``.

This is bump-pl's real training path: ``Trainer(max_steps=steps).fit(BumpModule(...))``, one
``training_step`` (rollouts -> judge -> reward -> advantages -> loss -> one optimizer step) per
batch. The batch is the workload's ``U`` users with their exact-length prompt ids (the same ids
TRL tokenizes), yielded once per step, so both sides train on the same users every step.

Matched to TRL's side: the same model and tokenizer loaders, ``LoraSettings(rank, alpha)``,
AdamW (lr as given, no weight decay), gradient clipping at 1, ``loss_type="grpo"``,
group-scaled advantages, one iteration per batch, the same ``beta``.

Exact completion length: TRL uses ``min_new_tokens``, a sampling-time logits processor that
masks the stop tokens. bump-pl's sampler has no such option, so the same masking is a forward
hook on the policy's LM head, registered only for the duration of each ``generate_rollouts``
call; training (and reference) log-probs see the unmasked distribution, as on TRL's side.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn

from _measure import SideResult, stamp
from _workload import Workload


@contextmanager
def mask_stop_tokens(lm_head: nn.Module, stop_ids: list[int]) -> Iterator[None]:
    """Inside the block, ``lm_head``'s ``[..., V]`` logits are ``-inf`` at ``stop_ids`` (others untouched)."""
    index = torch.tensor(stop_ids, dtype=torch.long)

    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        return output.index_fill(-1, index.to(output.device), float("-inf"))

    handle = lm_head.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def no_stop_while_sampling(namespace: Any, lm_head: nn.Module, stop_ids: list[int]) -> Iterator[None]:
    """Make ``namespace.generate_rollouts`` sample with ``stop_ids`` masked, so every rollout runs to
    ``max_new_tokens`` (TRL's ``min_new_tokens``); every other forward (training and reference
    log-probs) sees the unmasked distribution. ``namespace`` is the module that calls it
    (``bump_pl.module``); the original function is restored on exit."""
    original = namespace.generate_rollouts

    @functools.wraps(original)
    def generate_without_stops(*args: Any, **kwargs: Any) -> Any:
        with mask_stop_tokens(lm_head, stop_ids):
            return original(*args, **kwargs)

    namespace.generate_rollouts = generate_without_stops
    try:
        yield
    finally:
        namespace.generate_rollouts = original


def run_bump(workload: Workload, log_dir: str) -> SideResult:
    """Train ``settings.steps`` steps of ``BumpModule`` with a Lightning ``Trainer`` and measure them."""
    from lightning.pytorch import Callback, Trainer, seed_everything
    from torch.utils.data import DataLoader

    from bump_pl.data.batch import UserGroupBatch
    from bump_pl.grpo import GRPOSettings
    from bump_pl.data.prompts import left_pad
    from bump_pl.judges import EmbeddingJudge
    from bump_pl.models.policy import LoraSettings
    from bump_pl.models.rollout import SamplingSettings, stop_token_ids
    import bump_pl.module
    from bump_pl.module import BumpModule

    s = workload.settings
    seed_everything(s.seed, verbose=False)
    budget = {} if s.bump_grad_budget_tokens is None else {"grad_budget_tokens": s.bump_grad_budget_tokens}
    module = BumpModule(
        model=s.model,
        judge=EmbeddingJudge(model=s.judge),
        lora=LoraSettings(rank=s.lora_rank, alpha=s.lora_alpha),
        group_size=s.group_size,
        sampling=SamplingSettings(max_new_tokens=s.completion_tokens, temperature=s.temperature),
        grpo=GRPOSettings(beta=s.beta, loss_type="grpo", advantage_scale="group", num_iterations=1),
        log_samples_every_n_steps=0,
        max_grad_norm=1.0,
        **budget,
    )

    def configure_optimizers() -> torch.optim.Optimizer:
        # What `bump fit --optimizer AdamW` sets up through LightningCLI.
        trainable = [p for p in module.parameters() if p.requires_grad]
        return torch.optim.AdamW(trainable, lr=s.learning_rate, weight_decay=0.0)

    module.configure_optimizers = configure_optimizers
    pad_id = module.tokenizer.pad_token_id
    input_ids, attention_mask = left_pad(workload.prompt_ids, pad_id)
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
    lm_head = module.policy.get_output_embeddings()
    with no_stop_while_sampling(bump_pl.module, lm_head, stop_token_ids(module.tokenizer, module.policy)):
        trainer.fit(module, train_dataloaders=loader)
    return SideResult.from_run("bump", stamps, rewards, lengths)
