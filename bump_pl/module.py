"""BumpModule: one GRPO step of BUMP, orchestrated; the math lives in reward.py and grpo.py.

One training step on a batch of ``U`` users (``G`` rollouts each, ``K`` held-out items each):

    rollouts  = sample G profiles per user from their context-only prompt (shared-prompt prefill)
    scores    = judge(profiles -> held-out items) and judge(items -> profiles), negatives from all ranks
    reward    = bidirectional_reward(scores)                          # [U*G]
    advantage = group_advantages(reward, G)                           # [U*G]
    repeat num_iterations times:
        loss  = grpo_loss(logprobs(policy), old logprobs, advantage)  # one optimizer step each

Optimisation is manual because one batch of rollouts feeds ``num_iterations`` optimizer steps
(``trainer.global_step`` counts optimizer steps, so ``max_steps`` does too).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.loggers import TensorBoardLogger
from torch import Tensor

from bump_pl.data import UserGroupBatch
from bump_pl.grpo import GRPOStats, group_advantages, grpo_loss, zero_std_groups
from bump_pl.judges import EmbeddingJudge, Judge
from bump_pl.judges.base import DIRECTIONS
from bump_pl.metrics import MultiPositiveNDCG
from bump_pl.models import load_causal_lm, load_tokenizer
from bump_pl.models.chunked_backward import backward_completion_logprobs
from bump_pl.models.logprobs import completion_logprobs
from bump_pl.models.modes import disable_dropout as disable_dropout_in, eval_mode
from bump_pl.models.policy import LoraSettings, ReferencePolicy, build_policy, export_policy
from bump_pl.models.rollout import Rollouts, SamplingSettings, generate_rollouts
from bump_pl.reward import BidirectionalReward, bidirectional_reward, same_user_mask
from bump_pl.scoring import in_batch_scores


class BumpModule(LightningModule):
    """Trains a profile generator with GRPO on the bidirectional in-batch judge reward.

    Args:
        model: policy LLM: Hub id, local folder, ``*.gguf`` file or alias (``smollm2-135m-instruct``,
            ``tiny-random-llama``).
        judge: the frozen judge (``class_path`` in a config); default: ``EmbeddingJudge`` on MiniLM.
        dtype: policy weights dtype (``float32``, ``bfloat16``, ``float16``).
        lora: LoRA settings; ``null`` trains every weight.
        trust_remote_code: let transformers run the model repository's code (off unless set).
        group_size: ``G`` profiles sampled per user (GRPO group).
        sampling: how training rollouts are sampled (``max_new_tokens``, ``temperature``,
            ``top_p``, ``top_k``); validation, test and predict decode greedily.
        beta: KL weight against the reference policy (0 keeps no reference at all).
        epsilon_low, epsilon_high: PPO clip range ``[1 - low, 1 + high]`` (high defaults to low).
        loss_type: ``grpo`` | ``bnpo`` | ``dr_grpo`` normalisation (see ``bump_pl.grpo.grpo_loss``).
        advantage_scale: divide advantages by the ``group`` or ``batch`` std, or ``none``.
        num_iterations: optimizer steps per batch of rollouts (GRPO's mu).
        drop_zero_std_groups: leave users whose G rewards are all equal out of the loss.
        alpha: weight of the profile->items direction in the reward (1 or 0: one direction only).
        ndcg_k: NDCG cut-off (None ranks the whole list).
        negatives: ``global`` ranks against the users of every rank, ``local`` only this rank's.
        log_samples_every_n_steps: write a few sampled profiles and rewards to TensorBoard text.
        max_grad_norm: gradient clipping by norm (0 disables).
        grad_budget_tokens: tokens forwarded with gradients at once in the policy update; bounds
            activation memory (see ``bump_pl.models.chunked_backward``) for one extra no-grad
            forward of the prompts. 0 runs the whole batch in one forward and backward.
        disable_dropout: switch every dropout of the policy off (LoRA's too), as TRL does by default,
            so the policy that trains is the policy that sampled (importance ratio 1 on a batch's first step).
    """

    def __init__(
        self,
        model: str = "tiny-random-llama",
        judge: Judge | None = None,
        dtype: str = "float32",
        lora: LoraSettings | None = LoraSettings(),
        trust_remote_code: bool = False,
        group_size: int = 4,
        sampling: SamplingSettings = SamplingSettings(max_new_tokens=64),
        beta: float = 0.0,
        epsilon_low: float = 0.2,
        epsilon_high: float | None = None,
        loss_type: Literal["grpo", "bnpo", "dr_grpo"] = "grpo",
        advantage_scale: Literal["group", "batch", "none"] = "group",
        num_iterations: int = 1,
        drop_zero_std_groups: bool = False,
        alpha: float = 0.5,
        ndcg_k: int | None = None,
        negatives: Literal["global", "local"] = "global",
        log_samples_every_n_steps: int = 50,
        max_grad_norm: float = 1.0,
        grad_budget_tokens: int = 256,
        disable_dropout: bool = True,
    ) -> None:
        super().__init__()
        if group_size < 2:
            raise ValueError(f"group_size must be >= 2 for group-relative advantages, got {group_size}")
        if num_iterations < 1:
            raise ValueError(f"num_iterations must be >= 1, got {num_iterations}")
        if grad_budget_tokens < 0:
            raise ValueError(f"grad_budget_tokens must be >= 0 (0: no chunking), got {grad_budget_tokens}")
        self.save_hyperparameters(ignore=["judge"])
        self.sampling = sampling
        self.automatic_optimization = False
        self.judge = judge if judge is not None else EmbeddingJudge()
        self.tokenizer = load_tokenizer(model, trust_remote_code=trust_remote_code)
        base = load_causal_lm(model, dtype=dtype, trust_remote_code=trust_remote_code)
        # from_pretrained returns eval mode and Lightning keeps submodule modes: train (LoRA dropout on).
        self.policy = build_policy(base, lora).train()
        if disable_dropout:
            disable_dropout_in(self.policy)
        self.reference = ReferencePolicy(self.policy, beta=beta)
        # With LoRA, checkpoints hold only the trainable (adapter) weights.
        self.strict_loading = lora is None
        # ModuleDict keys may not shadow nn.Module attributes, hence "profile_to_item" not "forward".
        self.val_ndcg = torch.nn.ModuleDict({d: MultiPositiveNDCG(k=ndcg_k) for d in DIRECTIONS})
        self.test_ndcg = torch.nn.ModuleDict({d: MultiPositiveNDCG(k=ndcg_k) for d in DIRECTIONS})

    # ----------------------------------------------------------------------------- training
    def training_step(self, batch: UserGroupBatch, batch_idx: int) -> Tensor:
        group = self.hparams.group_size
        rollouts = self._sample(batch, group_size=group, greedy=False)
        reward = self._reward(rollouts.texts, batch.heldout, batch.user_ids, group_size=group)
        advantages = group_advantages(reward.total, group, scale=self.hparams.advantage_scale)
        flat_groups = zero_std_groups(reward.total, group)
        keep = ~flat_groups.repeat_interleave(group) if self.hparams.drop_zero_std_groups else None
        loss, stats = self._optimize(batch, rollouts, advantages, keep)
        self._log_train(batch, rollouts, reward, flat_groups, loss, stats)
        return loss

    def _optimize(
        self, batch: UserGroupBatch, rollouts: Rollouts, advantages: Tensor, keep: Tensor | None
    ) -> tuple[Tensor, GRPOStats]:
        """``num_iterations`` optimizer steps on one batch of rollouts; the last loss and stats.

        Old log-probs are the sampling policy's: computed before any step, in eval mode as the
        rollouts were sampled (on-policy when ``num_iterations == 1``). The LR scheduler steps with
        every optimizer step, so ``max_steps`` and a schedule's length count the same steps.
        """
        hp = self.hparams
        logprob_args = (batch.input_ids, batch.attention_mask, rollouts.completion_ids, rollouts.completion_mask)
        logprob_kwargs = dict(group_size=hp.group_size, temperature=self.sampling.temperature)
        with torch.no_grad(), eval_mode(self.policy):
            old_logps = completion_logprobs(self.policy, *logprob_args, **logprob_kwargs) if hp.num_iterations > 1 else None
        ref_logps = self.reference.logprobs(*logprob_args, **logprob_kwargs) if self.reference.enabled else None

        def loss_of(logps: Tensor) -> tuple[Tensor, GRPOStats]:
            old = logps.detach() if old_logps is None else old_logps
            return grpo_loss(
                logps,
                old,
                advantages,
                rollouts.completion_mask,
                ref_logps=ref_logps,
                beta=hp.beta,
                epsilon_low=hp.epsilon_low,
                epsilon_high=hp.epsilon_high,
                loss_type=hp.loss_type,
                max_completion_length=self.sampling.max_new_tokens,
                keep=keep,
            )

        optimizer, scheduler = self.optimizers(), self.lr_schedulers()
        for _ in range(hp.num_iterations):
            optimizer.zero_grad()
            loss, stats = self._backward_policy_loss(logprob_args, logprob_kwargs, loss_of, old_logps)
            if hp.max_grad_norm > 0:
                self.clip_gradients(optimizer, gradient_clip_val=hp.max_grad_norm, gradient_clip_algorithm="norm")
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
        return loss.detach(), stats

    def _backward_policy_loss(
        self,
        logprob_args: tuple[Tensor, ...],
        logprob_kwargs: dict,
        loss_of: Callable[[Tensor], tuple[Tensor, GRPOStats]],
        old_logps: Tensor | None,
    ) -> tuple[Tensor, GRPOStats]:
        """Backpropagate ``loss_of(policy log-probs)``: in one pass, or within ``grad_budget_tokens``.

        The chunked path relies on the GRPO loss being row-separable: the loss of a chunk of rows is
        taken on a full ``[N, T]`` tensor whose other rows are constants (their old log-probs), so
        its gradient is exactly that chunk's share of the whole loss's gradient.
        """
        budget = self.hparams.grad_budget_tokens
        prompt_ids, _, completion_ids, _ = logprob_args
        if budget == 0 or prompt_ids.numel() + completion_ids.numel() <= budget:
            loss, stats = loss_of(completion_logprobs(self.policy, *logprob_args, **logprob_kwargs))
            self.manual_backward(loss)
            return loss, stats
        fill = torch.zeros(completion_ids.shape, device=completion_ids.device) if old_logps is None else old_logps

        def row_loss(rows: Tensor, logps: Tensor) -> Tensor:
            return loss_of(fill.index_copy(0, rows, logps))[0]

        logps = backward_completion_logprobs(
            self.policy, *logprob_args, **logprob_kwargs, row_loss=row_loss, budget_tokens=budget, backward=self.manual_backward
        )
        with torch.no_grad():
            return loss_of(logps)

    def _log_train(
        self,
        batch: UserGroupBatch,
        rollouts: Rollouts,
        reward: BidirectionalReward,
        flat_groups: Tensor,
        loss: Tensor,
        stats: GRPOStats,
    ) -> None:
        """The scalars documented in the README, the progress-bar reward and sample profiles."""
        num_users, group = len(batch.user_ids), self.hparams.group_size
        lengths = rollouts.completion_mask.sum(-1).float()
        self.log_dict(
            {
                "train/loss": loss,
                "train/reward": reward.total.mean(),
                "train/reward_forward": reward.forward.mean(),
                "train/reward_backward": reward.backward.mean(),
                "train/reward_chance": reward.chance,
                "train/reward_std": reward.total.view(num_users, group).std(-1).mean(),
                "train/frac_reward_zero_std": flat_groups.float().mean(),
                "train/kl": stats.kl,
                "train/clip_ratio/low": stats.clip_low,
                "train/clip_ratio/high": stats.clip_high,
                "train/clip_ratio/region": stats.clip_region,
                "train/completion_length/mean": lengths.mean(),
                "train/completion_length/max": lengths.max(),
                "train/truncated_frac": rollouts.truncated.float().mean(),
                "train/lr": self.optimizers().param_groups[0]["lr"],
            },
            batch_size=num_users,
        )
        self.log("reward", reward.total.mean(), prog_bar=True, logger=False, batch_size=num_users)
        self._log_samples(batch, rollouts, reward.total)

    # --------------------------------------------------------------------- validation / test
    def validation_step(self, batch: UserGroupBatch, batch_idx: int) -> None:
        self._evaluate(batch, self.val_ndcg, "val")

    def test_step(self, batch: UserGroupBatch, batch_idx: int) -> None:
        self._evaluate(batch, self.test_ndcg, "test")

    def predict_step(self, batch: UserGroupBatch, batch_idx: int) -> list[dict[str, str]]:
        """One greedy profile per user: ``[{"user_id", "profile"}]``."""
        profiles = self.generate_profiles(batch)
        return [{"user_id": user, "profile": text} for user, text in zip(batch.user_ids, profiles)]

    def generate_profiles(self, batch: UserGroupBatch) -> list[str]:
        """One greedy profile per user of ``batch`` with the current policy (used by callbacks too)."""
        return self._sample(batch, group_size=1, greedy=True).texts

    def _evaluate(self, batch: UserGroupBatch, ndcg: torch.nn.ModuleDict, stage: str) -> None:
        """Both NDCG directions for one greedy profile per user, in-batch negatives (G = 1)."""
        num_users = len(batch.user_ids)
        heldout_per_user = len(batch.heldout[0])
        scores = in_batch_scores(
            self.judge,
            self.generate_profiles(batch),
            [item for items in batch.heldout for item in items],
            num_users=num_users,
            global_negatives=self.hparams.negatives == "global",
        )
        first, total = scores.first_user, scores.num_users
        own_items = slice(first * heldout_per_user, (first + num_users) * heldout_per_user)
        # this rank's profiles (one per user) vs every item: the user's K items are relevant
        ndcg["profile_to_item"].update(
            scores.forward[first : first + num_users],
            same_user_mask(first, num_users, 1, total, heldout_per_user, scores.forward.device),
        )
        # this rank's items vs every profile: the item's own user's profile is relevant
        ndcg["item_to_profile"].update(
            scores.backward[own_items], same_user_mask(first, num_users, heldout_per_user, total, 1, scores.forward.device)
        )

    def on_validation_epoch_start(self) -> None:
        # Fresh states each epoch: states left by a previous loop may be inference-mode tensors.
        for metric in self.val_ndcg.values():
            metric.reset()

    def on_test_epoch_start(self) -> None:
        for metric in self.test_ndcg.values():
            metric.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_ndcg(self.val_ndcg, "val")

    def on_test_epoch_end(self) -> None:
        self._log_ndcg(self.test_ndcg, "test")

    def _log_ndcg(self, ndcg: torch.nn.ModuleDict, stage: str) -> None:
        """Log both directions and their alpha-weighted mean (synchronised over ranks)."""
        forward, backward = ndcg["profile_to_item"].compute(), ndcg["item_to_profile"].compute()
        alpha = self.hparams.alpha
        # compute() already reduced over ranks, so sync_dist only averages equal values.
        self.log(f"{stage}/ndcg_forward", forward, sync_dist=True)
        self.log(f"{stage}/ndcg_backward", backward, sync_dist=True)
        self.log(f"{stage}/ndcg", alpha * forward + (1 - alpha) * backward, prog_bar=True, sync_dist=True)

    # ------------------------------------------------------------------------------- helpers
    def _sample(self, batch: UserGroupBatch, *, group_size: int, greedy: bool) -> Rollouts:
        settings = dataclasses.replace(self.sampling, greedy=greedy)
        return generate_rollouts(
            self.policy, self.tokenizer, batch.input_ids, batch.attention_mask, group_size=group_size, settings=settings
        )

    def _reward(
        self, profiles: list[str], heldout: list[list[str]], user_ids: list[str], *, group_size: int
    ) -> BidirectionalReward:
        """Bidirectional reward of this rank's ``U*G`` rollouts, negatives from every rank.

        Raises:
            FloatingPointError: the judge gave a NaN/inf score; names the step and the batch's users
                (the step stops: a masked reward would silently train on whatever is left).
        """
        num_users, heldout_per_user = len(heldout), len(heldout[0])
        scores = in_batch_scores(
            self.judge,
            profiles,
            [item for items in heldout for item in items],
            num_users=num_users,
            global_negatives=self.hparams.negatives == "global",
        )
        if not all(torch.isfinite(rows).all() for rows in (scores.forward, scores.backward)):
            raise FloatingPointError(
                f"step {self.global_step}: the judge gave non-finite (NaN/inf) scores for users {user_ids};"
                " check the judge (e.g. float16 overflow) and these users' texts"
            )
        return bidirectional_reward(
            scores.forward,
            scores.backward,
            num_users=scores.num_users,
            group_size=group_size,
            heldout_per_user=heldout_per_user,
            alpha=self.hparams.alpha,
            k=self.hparams.ndcg_k,
            local_users=slice(scores.first_user, scores.first_user + num_users),
        )

    def _log_samples(self, batch: UserGroupBatch, rollouts: Rollouts, rewards: Tensor) -> None:
        every = self.hparams.log_samples_every_n_steps
        if every <= 0 or self.global_step % every or not isinstance(self.logger, TensorBoardLogger):
            return
        group = self.hparams.group_size
        rows = [
            f"| {batch.user_ids[r // group]} | {rewards[r]:.3f} | {rollouts.texts[r].replace('|', '/').replace(chr(10), ' ')} |"
            for r in range(min(len(rollouts.texts), 2 * group))
        ]
        table = "| user | reward | profile |\n|---|---|---|\n" + "\n".join(rows)
        self.logger.experiment.add_text("train/samples", table, global_step=self.global_step)

    def setup(self, stage: str) -> None:
        """Refuse a gradient scaler with the memory-bounded update before any step runs."""
        if stage == "fit" and self.hparams.grad_budget_tokens > 0 and str(self.trainer.precision) in ("16-mixed", "16"):
            raise ValueError(
                "model.grad_budget_tokens > 0 cannot run with trainer.precision 16-mixed: its gradient scaler would"
                " scale the prompts' share of the gradient twice; use bf16-mixed, 32 or grad_budget_tokens: 0"
            )

    def on_fit_start(self) -> None:
        self.judge.to(self.device)

    on_validation_start = on_test_start = on_predict_start = on_fit_start

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """With LoRA, keep only trainable weights: the frozen base is reloaded from ``model``."""
        if self.hparams.lora is not None:
            trainable = {name for name, p in self.named_parameters() if p.requires_grad}
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trainable}

    def export(self, out_dir: str, merge: bool = False) -> None:
        """Save the trained adapter (or, with ``merge``, the merged model) and tokenizer with
        ``save_pretrained``, loadable by transformers/peft without bump-pl."""
        export_policy(self.policy, self.tokenizer, out_dir, merge=merge)
