"""TRL's side of ``vs_trl.py``: the BUMP workload through ``trl.GRPOTrainer`` (TRL 1.x), on CPU.

Matched to bump-pl's side: the policy comes from ``bump_pl.models.load_causal_lm`` (fp32), the
LoRA adapter from bump-pl's ``LoraSettings.peft_config()``, one optimizer
step per generation batch of ``U*G`` completions (``num_iterations=1``, so TRL computes no old
log-probs, and ``beta`` as given), ``loss_type="grpo"``, group-scaled advantages, constant
learning rate, AdamW without weight decay, gradient clipping at 1. ``min_new_tokens`` equal to
``max_completion_length`` makes every completion exactly ``completion_tokens`` long.

TRL gets the BUMP reward as its reward function. TRL hands a reward function the whole
generation batch (prompts, completions and the dataset's extra columns), so the in-batch reward
is computable there: ``bump_pl.integrations.trl.BumpReward`` groups completions by their ``user_id``
column and scores them with the same judge and reward calls as ``BumpModule``.
"""

from __future__ import annotations


import torch

from _measure import SideResult, stamp
from _workload import Workload


def run_trl(workload: Workload, output_dir: str) -> SideResult:
    """Train ``settings.steps`` GRPO steps with ``GRPOTrainer`` and measure them."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from bump_pl.core.reward import RewardSettings
    from bump_pl.integrations.trl import BumpReward
    from bump_pl.judges import EmbeddingJudge
    from bump_pl.models import load_causal_lm, load_tokenizer
    from bump_pl.models.lora import LoraSettings

    s = workload.settings
    lora = LoraSettings(rank=s.lora_rank, alpha=s.lora_alpha)
    micro = s.trl_micro_batch or s.rollouts
    config = GRPOConfig(
        output_dir=output_dir,
        use_cpu=True,
        bf16=False,
        fp16=False,
        seed=s.seed,
        max_steps=s.steps,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=s.rollouts // micro,  # one optimizer step per U*G completions
        num_generations=s.group_size,
        max_completion_length=s.completion_tokens,
        generation_kwargs={"min_new_tokens": s.completion_tokens},
        temperature=s.temperature,
        top_p=1.0,
        top_k=0,
        beta=s.beta,
        num_iterations=1,
        epsilon=0.2,
        loss_type="grpo",
        scale_rewards="group",
        mask_truncated_completions=False,
        learning_rate=s.learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        optim="adamw_torch",
        max_grad_norm=1.0,
        gradient_checkpointing=s.trl_gradient_checkpointing,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
        log_completions=False,
    )
    torch.manual_seed(s.seed)
    model = load_causal_lm(s.model)
    tokenizer = load_tokenizer(s.model)
    judge = EmbeddingJudge(model=s.judge)
    reward = BumpReward(judge, dict(zip(workload.user_ids, workload.heldout)), s.group_size, RewardSettings(negatives="local"))
    dataset = Dataset.from_dict({"prompt": workload.prompts, "user_id": workload.user_ids})
    peft_config = lora.peft_config()
    stamps: list[tuple[float, float]] = []
    lengths: list[float] = []

    class StepClock(TrainerCallback):
        """Stamps the start of training and the end of every optimizer step; keeps logged lengths."""

        def on_train_begin(self, args, state, control, **kwargs):
            stamps.append(stamp())

        def on_step_end(self, args, state, control, **kwargs):
            stamps.append(stamp())

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "completions/mean_length" in logs:
                lengths.append(float(logs["completions/mean_length"]))

    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[StepClock()],
    )
    trainer.train()
    return SideResult.from_run("trl", stamps, reward.batch_means, lengths)
