"""``ProfileGenerator``: everything that writes a profile (policy, tokenizer, profile prompt, sampling), no judge.

``BumpModule`` trains one (``module.generator``), which its validation, ``bump predict`` and the
profile cache ask for greedy profiles; ``bump-downstream --ckpt`` rebuilds one from a checkpoint
alone (:meth:`ProfileGenerator.from_checkpoint`), without a judge or Lightning.

Both kinds of generation run with the LoRA adapters folded into the base weights
(:func:`~bump_pl.models.merged_lora.merged_lora`; unchanged where they cannot be folded exactly):
the same outputs up to float rounding, without the adapters' per-step cost.

No Lightning here. The generator is not an ``nn.Module``: the module that owns it registers its
``policy`` under the name ``policy``, so checkpoints keep the keys ``policy.*``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from typing_extensions import Self

from bump_pl.data.prompts import ProfilePrompt
from bump_pl.models.loading import load_causal_lm, load_tokenizer
from bump_pl.models.lora import LoraSettings
from bump_pl.models.merged_lora import merged_lora
from bump_pl.models.policy import build_policy
from bump_pl.models.rollout import Rollouts, SamplingSettings, generate_rollouts

if TYPE_CHECKING:
    from bump_pl.data.batch import UserGroupBatch

POLICY_PREFIX = "policy."
"""Where the policy's weights sit in a ``BumpModule`` checkpoint's ``state_dict``."""


class ProfileGenerator:
    """The profile writer: a (LoRA) policy, its tokenizer, the question it is asked, how it samples.

    Args:
        model: policy LLM: Hub id, local folder, ``*.gguf`` file or alias.
        dtype: policy weights dtype (``float32``, ``bfloat16``, ``float16``).
        lora: LoRA settings; None trains (and here holds) every weight.
        trust_remote_code: let transformers run the model repository's code.
        profile_prompt: what the policy is asked to write (the data module builds prompts with it).
        sampling: how training rollouts are sampled; :meth:`profiles` decodes greedily.
    """

    def __init__(
        self,
        model: str,
        *,
        dtype: str = "float32",
        lora: LoraSettings | None = LoraSettings(),
        trust_remote_code: bool = False,
        profile_prompt: ProfilePrompt = ProfilePrompt(),
        sampling: SamplingSettings = SamplingSettings(),
    ) -> None:
        self.lora, self.profile_prompt, self.sampling = lora, profile_prompt, sampling
        self.tokenizer = load_tokenizer(model, trust_remote_code=trust_remote_code)
        self.policy = build_policy(load_causal_lm(model, dtype=dtype, trust_remote_code=trust_remote_code), lora)

    @property
    def device(self) -> torch.device:
        """Where the policy's weights are (batches go there before :meth:`profiles`)."""
        return next(self.policy.parameters()).device

    def to(self, device: torch.device | str) -> Self:
        """Move the policy to ``device`` (in place); returns the generator."""
        self.policy.to(device)
        return self

    def rollouts(self, batch: UserGroupBatch, group_size: int, *, keep_prompt_kv: bool = False) -> Rollouts:
        """``group_size`` completions sampled (``sampling`` settings) for each user of ``batch`` (its
        ``[U, P]`` left-padded prompts on the policy's device); ``keep_prompt_kv`` keeps the prompts'
        KV cache in the rollouts (:attr:`~bump_pl.models.rollout.Rollouts.prompt_kv`). Their ``texts``
        are the profiles: each completion after the prompt's ``response_start``, if it has one."""
        ids, mask = batch.input_ids, batch.attention_mask
        with merged_lora(self.policy):
            rollouts = generate_rollouts(
                self.policy, self.tokenizer, ids, mask, group_size=group_size, settings=self.sampling, keep_prompt_kv=keep_prompt_kv
            )
        return dataclasses.replace(rollouts, texts=self._profile_texts(rollouts.texts))

    def profiles(self, batch: UserGroupBatch) -> list[str]:
        """One greedy profile per user of ``batch`` (its ``[U, P]`` left-padded prompts on the policy's
        device), repetition penalty and lengths as sampled."""
        greedy = dataclasses.replace(self.sampling, greedy=True)
        ids, mask = batch.input_ids, batch.attention_mask
        with merged_lora(self.policy):
            completions = generate_rollouts(self.policy, self.tokenizer, ids, mask, group_size=1, settings=greedy).texts
        return self._profile_texts(completions)

    def _profile_texts(self, completions: list[str]) -> list[str]:
        """Profiles from decoded completions: the prompt's ``response_start`` (which the policy
        continued, untrained on it), one space, then the completion."""
        start = self.profile_prompt.response_start
        return [f"{start} {completion}".rstrip() if start else completion for completion in completions]

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping[str, Any], *, trained: bool = True) -> Self:
        """The generator a ``BumpModule`` checkpoint (already loaded) trained: base model reloaded,
        the saved policy weights (the adapter, or every weight) restored.

        ``trained=False`` gives the same generator before training: model, profile prompt and
        sampling from the hyperparameters, but the policy weights are not restored (a fresh LoRA
        adapter, whose zero ``B`` makes it the base model; or the base weights when every weight
        was trained). ``bump-downstream --untrained_profile`` compares its profiles with the trained ones.

        Raises:
            ValueError: the checkpoint names no policy model, holds no policy weights, or (trained) weights this policy does not have.
        """
        hparams = checkpoint.get("hyper_parameters", {})
        if "model" not in hparams:
            raise ValueError("checkpoint: its hyper_parameters name no policy model (not a bump fit checkpoint?)")
        settings = {"lora": LoraSettings, "profile_prompt": ProfilePrompt, "sampling": SamplingSettings}
        kwargs = {
            name: _settings(settings.get(name), hparams[name])
            for name in ("dtype", "lora", "trust_remote_code", "profile_prompt", "sampling")
            if name in hparams
        }
        generator = cls(hparams["model"], **kwargs)
        weights = {
            key[len(POLICY_PREFIX) :]: value for key, value in checkpoint["state_dict"].items() if key.startswith(POLICY_PREFIX)
        }
        if not weights:
            raise ValueError("checkpoint: its state_dict holds no policy.* weights (not a bump fit checkpoint?)")
        if not trained:
            return generator
        # With LoRA the checkpoint holds only the adapter; the base comes from ``model``.
        result = generator.policy.load_state_dict(weights, strict=generator.lora is None)
        if result.unexpected_keys:
            raise ValueError(f"checkpoint: policy weights {result.unexpected_keys[:3]} do not fit the model {hparams.get('model')!r}")
        return generator


def _settings(cls: type | None, value: Any) -> Any:
    """A checkpoint's hyperparameter as the generator takes it: a settings dataclass saved as its
    fields (``bump fit`` saves its config) is built again; objects (saved from Python), plain values
    and None (full fine-tuning) stay as they are."""
    return cls(**value) if cls is not None and isinstance(value, Mapping) else value
