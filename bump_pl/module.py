"""BumpModule: one GRPO step of BUMP, orchestrated; the math lives in core/ and models/.

One training step on a batch of ``U`` users (``G`` rollouts each, ``K`` held-out items each):

    rollouts   = generator.rollouts(batch, G)    # G profiles per user, shared-prompt prefill
    scores     = judge_scores(judge, rollouts.texts, heldout)  # both directions, negatives from all ranks
    rewards    = rollout_reward(scores) - copy_penalty * copy_rate    # [U*G]
    advantages = group_advantages(rewards, G)                         # [U*G]
    rollouts   = score_rollouts(policy, reference, rollouts, advantages)  # + old and reference log-probs
    repeat num_iterations times, for each of steps_per_generation mini-batches of users:
        policy_update(policy, mini_batch); optimizer step; LR scheduler step

The profile writer (policy, tokenizer, prompt, sampling) is a :class:`~bump_pl.models.generator.ProfileGenerator`;
validation NDCG and its history baselines live in :mod:`bump_pl.validation`.

Optimisation is manual because one batch of rollouts feeds several optimizer steps
(``trainer.global_step`` counts optimizer steps, so ``max_steps`` and a schedule do too).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

import torch
from lightning.pytorch import LightningModule
from torch import Tensor

from bump_pl.core.copy_rate import copy_penalised, copy_rates
from bump_pl.core.grpo import GRPOSettings, group_advantages, rollout_keep, zero_std_groups
from bump_pl.core.reward import BidirectionalReward, RewardSettings
from bump_pl.data import UserGroupBatch
from bump_pl.data.prompts import ProfilePrompt
from bump_pl.judges import EmbeddingJudge, Judge
from bump_pl.judges.config import build_judge, judge_config
from bump_pl.judges.in_batch import gather_rows
from bump_pl.models.generator import ProfileGenerator
from bump_pl.models.lora import LoraSettings
from bump_pl.models.modes import disable_dropout
from bump_pl.models.policy import export_policy
from bump_pl.models.rollout import Rollouts, SamplingSettings
from bump_pl.rl.memory import auto_grad_budget_tokens
from bump_pl.rl.policy_update import UpdateResult, policy_update, score_rollouts, tokens_all_ranks
from bump_pl.rl.reference import ReferencePolicy
from bump_pl.runs.fit_ranking import LAYOUT_KEY, fit_ranking_layout
from bump_pl.strategies.clipping import check_deepspeed_clipping, clip_policy_gradients
from bump_pl.text_logging import log_text
from bump_pl.validation import ValidationNDCG, history_baselines
from bump_pl.verdict import all_finite, judge_scores, rollout_reward


class BumpModule(LightningModule):
    """Trains a profile generator with GRPO on the bidirectional in-batch judge reward.

    Args:
        model: policy LLM: Hub id, local folder, ``*.gguf`` file or alias (``smollm2-135m-instruct``,
            ``tiny-random-llama``).
        judge: the frozen judge (``class_path`` in a config), or its ``{"class_path", "init_args"}``
            as saved in ``hparams.judge`` (classes under ``bump_pl.judges`` or already imported);
            default: ``EmbeddingJudge`` on MiniLM. Checkpoints keep it, so ``load_from_checkpoint``
            rebuilds the same judge (a judge built from model objects must be passed again).
        dtype: policy weights dtype (``float32``, ``bfloat16``, ``float16``).
        lora: LoRA settings; ``null`` trains every weight.
        trust_remote_code: let transformers run the model repository's code (off unless set).
        group_size: ``G`` profiles sampled per user (GRPO group).
        profile_prompt: what the generator is asked to write. The data module builds the prompts
            (``bump fit`` links ``data.profile_prompt`` to it); the checkpoint keeps it, so that
            ``bump-downstream --ckpt`` asks the trained policy the question it was trained on.
        sampling: how training rollouts are sampled; validation, test and predict decode greedily.
        grpo: the GRPO objective and how often a batch of rollouts is reused.
        reward: how profiles are rewarded and validated (direction mix, NDCG cut-off, negatives).
        log_samples_every_n_steps: log a table of a few sampled profiles and rewards to every logger
            (TensorBoard text, W&B table, else ``text.jsonl`` in the logger's folder).
        max_grad_norm: gradient clipping by norm (0 disables).
        grad_budget_tokens: tokens forwarded with gradients at once in the policy update; bounds
            activation memory (see ``bump_pl.rl.chunked_backward``) for one extra no-grad
            forward of the prompts. 0 runs the whole batch in one forward and backward. ``auto``
            sizes it at fit start from the device's free memory and the policy's shape
            (``bump_pl.rl.memory``; 256 off CUDA), the smallest over DDP ranks.
        prompt_gradients: backpropagate through the prompts' keys and values (exact). False treats
            them as constants: same log-probs and loss, an approximate gradient (through the
            completion tokens' own computation only) for about a third less update compute when
            prompts are most of the tokens (``bump_pl.rl.chunked_backward``). With one
            optimizer step per batch (``grpo.steps_per_generation`` and ``grpo.num_iterations``
            1) the constants are the KV cache the rollouts' prefill computed, so the update runs
            no forward of the prompts at all; with LoRA dropout on (``grpo.disable_dropout``
            false) they are then the keys and values without dropout.
        optimizer: for use from Python (benchmarks, tests): builds the optimizer from the trainable
            weights, e.g. ``functools.partial(torch.optim.AdamW, lr=1e-5)``. ``bump fit`` leaves it
            unset and takes the config's top-level ``optimizer:`` / ``lr_scheduler:`` instead.
    """

    def __init__(
        self,
        model: str = "tiny-random-llama",
        judge: Judge | dict[str, Any] | None = None,
        dtype: str = "float32",
        lora: LoraSettings | None = LoraSettings(),
        trust_remote_code: bool = False,
        group_size: int = 4,
        profile_prompt: ProfilePrompt = ProfilePrompt(),
        sampling: SamplingSettings = SamplingSettings(),
        grpo: GRPOSettings = GRPOSettings(),
        reward: RewardSettings = RewardSettings(),
        log_samples_every_n_steps: int = 50,
        max_grad_norm: float = 1.0,
        grad_budget_tokens: int | Literal["auto"] = "auto",
        prompt_gradients: bool = True,
        optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer] | None = None,
    ) -> None:
        super().__init__()
        if group_size < 2:
            raise ValueError(f"group_size must be >= 2 for group-relative advantages, got {group_size}")
        if grad_budget_tokens != "auto" and (not isinstance(grad_budget_tokens, int) or grad_budget_tokens < 0):
            raise ValueError(
                f"model.grad_budget_tokens must be 'auto' or an int >= 0 (0: no chunking), got {grad_budget_tokens!r}"
            )
        self.save_hyperparameters(ignore=["judge", "optimizer"])
        if optimizer is not None:
            # Only when given: LightningCLI configures the optimizer of a module that defines none.
            self.configure_optimizers = functools.partial(_trainable_optimizer, self, optimizer)
        # Settings, each under its config key (model.sampling, model.grpo, model.reward, ...).
        self.sampling, self.grpo, self.reward, self.profile_prompt = sampling, grpo, reward, profile_prompt
        self.automatic_optimization = False
        # The budget the update uses: an int given, or ``auto`` resolved in ``on_fit_start``.
        self.grad_budget_tokens: int | None = None if grad_budget_tokens == "auto" else grad_budget_tokens
        self.prompt_gradients = prompt_gradients
        if judge is None:
            judge = EmbeddingJudge()
        self.judge = build_judge(judge) if isinstance(judge, dict) else judge
        self.hparams["judge"] = judge_config(self.judge)
        self.generator = ProfileGenerator(
            model, dtype=dtype, lora=lora, trust_remote_code=trust_remote_code, profile_prompt=profile_prompt,
            sampling=sampling,
        )
        self.tokenizer = self.generator.tokenizer
        # Registered here, so checkpoints keep the keys policy.*. from_pretrained returns eval mode and
        # Lightning keeps submodule modes: train mode (dropout then only acts with grpo.disable_dropout false).
        self.policy = self.generator.policy.train()
        if grpo.disable_dropout:
            disable_dropout(self.policy)
        self.reference = ReferencePolicy(self.policy, beta=grpo.beta)
        # With LoRA, checkpoints hold only the trainable (adapter) weights.
        self.strict_loading = lora is None
        self.val_ndcg, self.test_ndcg = ValidationNDCG(reward), ValidationNDCG(reward)
        self.ndcg_log_suffix = ""

    # ----------------------------------------------------------------------------- training
    def training_step(self, batch: UserGroupBatch, batch_idx: int) -> Tensor:
        rollouts = self._rollouts(batch)
        bidirectional = self._bidirectional_reward(rollouts, batch)
        copied = copy_rates(rollouts.texts, batch.context, rollouts.group_size)
        rewards = copy_penalised(bidirectional.total, copied, self.reward.copy_penalty)
        flat_groups = zero_std_groups(rewards, rollouts.group_size)
        scored = score_rollouts(
            self.policy, self.reference, rollouts, advantages=self._advantages(rewards),
            keep=rollout_keep(flat_groups, rollouts.truncated, self.grpo), need_old=self.grpo.reuses_rollouts,
        )
        updates = self._update(scored)
        self._log_train(batch, rollouts, bidirectional, copied, flat_groups, updates)
        return torch.stack([update.loss for update in updates]).mean()

    def _rollouts(self, batch: UserGroupBatch) -> Rollouts:
        """``G`` sampled profiles per user of ``batch``, with the prompts' KV cache when the update
        treats the prompts as constants and runs once on the weights that sampled."""
        keep = not self.prompt_gradients and not self.grpo.reuses_rollouts
        return self.generator.rollouts(batch, self.hparams.group_size, keep_prompt_kv=keep)

    def _bidirectional_reward(self, rollouts: Rollouts, batch: UserGroupBatch) -> BidirectionalReward:
        """Bidirectional reward of this rank's ``U*G`` rollouts, negatives from every rank.

        Raises:
            FloatingPointError: the judge gave a NaN/inf score; names the step and the batch's users
                (the step stops: a masked reward would silently train on whatever is left).
        """
        scores = judge_scores(self.judge, rollouts.texts, batch.heldout, self.reward, self.reward.negative_users)
        if not all_finite(scores):
            raise FloatingPointError(
                f"step {self.global_step}: the judge gave non-finite (NaN/inf) scores for users {batch.user_ids};"
                " check the judge (e.g. float16 overflow) and these users' texts"
            )
        return rollout_reward(
            scores, num_users=len(batch.heldout), group_size=rollouts.group_size,
            heldout_per_user=len(batch.heldout[0]), settings=self.reward,
        )

    def _advantages(self, rewards: Tensor) -> Tensor:
        """``[U*G]`` group-relative advantages of this rank's rewards; ``advantage_scale: batch`` divides
        by the std of every rank's rewards (the global batch, as TRL does), so a DDP step scales its
        advantages as one process holding all the users would."""
        scale = self.grpo.advantage_scale
        batch = gather_rows(rewards[:, None]).flatten() if scale == "batch" else None
        return group_advantages(rewards, self.hparams.group_size, scale=scale, batch_rewards=batch)

    def _update(self, rollouts: Rollouts) -> list[UpdateResult]:
        """``num_iterations`` passes of ``steps_per_generation`` optimizer steps (mini-batches of users)
        on one batch of scored rollouts, the LR scheduler stepping with each optimizer step."""
        optimizer, scheduler = self.optimizers(), self.lr_schedulers()
        steps = self.grpo.steps_per_generation
        dapo = tokens_all_ranks(rollouts, steps) if self.grpo.loss_type == "dapo" else None
        results = []
        for mini_batch in rollouts.mini_batches(steps) * self.grpo.num_iterations:
            optimizer.zero_grad()
            results.append(
                policy_update(
                    self.policy, mini_batch, self.grpo, max_new_tokens=self.sampling.max_new_tokens,
                    budget_tokens=self.grad_budget_tokens, backward=self.manual_backward,
                    prompt_gradients=self.prompt_gradients, dapo_normaliser=dapo,
                )
            )
            clip_policy_gradients(self, optimizer, self.hparams.max_grad_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
        return results

    def _log_train(
        self,
        batch: UserGroupBatch,
        rollouts: Rollouts,
        bidirectional: BidirectionalReward,
        copied: Tensor,
        flat_groups: Tensor,
        updates: list[UpdateResult],
    ) -> None:
        """The scalars documented in docs/training.md (update figures averaged over the optimizer steps),
        the progress-bar reward and sample profiles."""
        num_users = len(batch.user_ids)
        lengths = rollouts.completion_mask.sum(-1).float()
        mean = lambda values: torch.stack(list(values)).mean()  # noqa: E731
        stats = [update.stats for update in updates]
        self.log_dict(
            {
                "train/loss": mean(update.loss for update in updates),
                "train/reward": bidirectional.total.mean(),
                "train/reward_profile_to_item": bidirectional.profile_to_item.mean(),
                "train/reward_item_to_profile": bidirectional.item_to_profile.mean(),
                "train/reward_chance": bidirectional.chance,
                "train/copy_rate": copied.mean(),
                "train/reward_std": bidirectional.total.view(num_users, rollouts.group_size).std(-1).mean(),
                "train/frac_reward_zero_std": flat_groups.float().mean(),
                "train/kl": mean(s.kl for s in stats),
                "train/entropy": mean(update.entropy for update in updates),
                "train/clip_ratio/low": mean(s.clip_low for s in stats),
                "train/clip_ratio/high": mean(s.clip_high for s in stats),
                "train/clip_ratio/region": mean(s.clip_region for s in stats),
                "train/completion_length/mean": lengths.mean(),
                "train/completion_length/max": lengths.max(),
                "train/truncated_frac": rollouts.truncated.float().mean(),
                "train/lr": self.optimizers().param_groups[0]["lr"],
            },
            batch_size=num_users,
        )
        self.log("reward", bidirectional.total.mean(), prog_bar=True, logger=False, batch_size=num_users)
        self._log_samples(batch, rollouts, bidirectional.total)

    def _log_samples(self, batch: UserGroupBatch, rollouts: Rollouts, rewards: Tensor) -> None:
        """The rollouts of this rank's first two users with their rewards, as ``train/samples``."""
        every = self.hparams.log_samples_every_n_steps
        if every <= 0 or self.global_step % every or not self.loggers:
            return
        group = rollouts.group_size
        rows = [
            [batch.user_ids[r // group], round(float(rewards[r]), 3), rollouts.texts[r]]
            for r in range(min(len(rollouts.texts), 2 * group))
        ]
        log_text(self.loggers, "train/samples", ["user", "reward", "profile"], rows, self.global_step)

    # --------------------------------------------------------------------- validation / test
    def validation_step(self, batch: UserGroupBatch, batch_idx: int) -> None:
        self._evaluate(batch, self.val_ndcg)

    def test_step(self, batch: UserGroupBatch, batch_idx: int) -> None:
        self._evaluate(batch, self.test_ndcg)

    def predict_step(self, batch: UserGroupBatch, batch_idx: int) -> list[dict[str, str]]:
        """One greedy profile per user: ``[{"user_id", "profile"}]``."""
        profiles = self.generator.profiles(batch)
        return [{"user_id": user, "profile": text} for user, text in zip(batch.user_ids, profiles)]

    def _evaluate(self, batch: UserGroupBatch, ndcg: ValidationNDCG) -> None:
        """Both NDCG directions for one greedy profile per user, in-batch negatives (G = 1); and,
        with ``reward.history_baselines``, the same for the user's raw history as the profile."""
        texts = {"profile": self.generator.profiles(batch)}
        if self.reward.history_baselines:
            texts.update(history_baselines(batch.context, self.tokenizer, self.sampling.max_new_tokens))
        ndcg.score_batch(self.judge, texts, batch.heldout)

    def on_validation_epoch_start(self) -> None:
        self.val_ndcg.reset()

    def on_test_epoch_start(self) -> None:
        self.test_ndcg.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_ndcg(self.val_ndcg, "val")

    def on_test_epoch_end(self) -> None:
        self._log_ndcg(self.test_ndcg, "test")

    def _log_ndcg(self, ndcg: ValidationNDCG, stage: str) -> None:
        """``<stage>/ndcg...`` per source and direction, with ``<stage>/ranking_users``; ``compute()``
        already reduced over ranks, so ``sync_dist`` only averages equal values. ``ndcg_log_suffix``
        (set by ``bump validate``/``test`` when the ranking size differs from the fit's) gives
        incomparable figures their own curve."""
        for name, value in ndcg.compute().items():
            self.log(f"{stage}{self.ndcg_log_suffix}/{name}", value, prog_bar=name == "ndcg", sync_dist=True)

    # ------------------------------------------------------------------------------- set-up
    def setup(self, stage: str) -> None:
        """Before any step runs: refuse a gradient scaler with the memory-bounded update, and a
        DeepSpeed config that would clip at another norm than ``max_grad_norm`` (or not at all)."""
        if stage != "fit":
            return
        # the prompts' second, gradient-pulling pass runs only when they take gradients
        chunked = self.prompt_gradients and (self.hparams.grad_budget_tokens == "auto" or self.hparams.grad_budget_tokens > 0)
        if chunked and str(self.trainer.precision) in ("16-mixed", "16"):
            raise ValueError(
                "model.grad_budget_tokens > 0 cannot run with trainer.precision 16-mixed: its gradient scaler would"
                " scale the prompts' share of the gradient twice; use bf16-mixed, 32 or grad_budget_tokens: 0"
            )
        check_deepspeed_clipping(self.trainer, self.hparams.max_grad_norm)

    def on_fit_start(self) -> None:
        self._move_judge()
        if self.hparams.grad_budget_tokens == "auto":
            self.grad_budget_tokens = self._auto_grad_budget()

    def _move_judge(self) -> None:
        self.judge.to(self.device)

    on_validation_start = on_test_start = on_predict_start = _move_judge

    def _auto_grad_budget(self) -> int:
        """``grad_budget_tokens: auto`` once the policy and judge sit on the device: sized from this
        rank's free memory, then the minimum over ranks so that every DDP rank chunks alike."""
        bf16 = "bf16" in str(self.trainer.precision)
        budget = auto_grad_budget_tokens(self.policy, self.device, activation_dtype=torch.bfloat16 if bf16 else None)
        return int(self.all_gather(torch.tensor(budget, device=self.device)).min())

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> BumpModule:
        """Every move and cast (``.to``, ``.cuda``, ``.double``, the strategy's device move) also applies
        to the frozen reference copy of full fine-tuning, which is kept off the module's submodules
        so that it stays out of the optimizer, the checkpoint and the parameter count."""
        super()._apply(fn, recurse)
        if self.reference.frozen is not None:
            self.reference.frozen._apply(fn, recurse)
        return self

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """With LoRA, keep only trainable weights: the frozen base is reloaded from ``model``. Record how
        many users a ranking held (:mod:`bump_pl.runs.fit_ranking`), for validate/test to match it."""
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "users_per_batch"):
            checkpoint[LAYOUT_KEY] = fit_ranking_layout(self.trainer.world_size, datamodule.users_per_batch)
        if self.hparams.lora is not None:
            trainable = {name for name, p in self.named_parameters() if p.requires_grad}
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trainable}

    def export(self, out_dir: str, merge: bool = False) -> None:
        """Save the trained adapter (or, with ``merge``, the merged model) and tokenizer with
        ``save_pretrained``, loadable by transformers/peft without bump-pl."""
        export_policy(self.policy, self.tokenizer, out_dir, merge=merge)


def _trainable_optimizer(
    module: LightningModule, build: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]
) -> torch.optim.Optimizer:
    """``build`` applied to the weights of ``module`` that train (the LoRA adapter, or all of them)."""
    return build([p for p in module.parameters() if p.requires_grad])
