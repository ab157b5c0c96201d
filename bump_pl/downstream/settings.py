"""``DownstreamSettings``: how the downstream model is built, trained, asked and scored, declared once.

Both front ends are built from this dataclass, so their names, defaults and help are the same:
``DownstreamEvalCallback(settings=...)`` (``settings:`` in a config's callback entry) and the
``bump-downstream`` command line (``--backbone``, ``--max_answer_tokens``, ``--lora.rank``, ...).
Light on purpose (no torch): ``bump-downstream --help`` builds its parser from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from bump_pl.data.tasks import metric_task_of  # the one task registry (re-exported by bump_pl.downstream)
from bump_pl.models.lora import LoraSettings

Architecture = Literal["causal", "seq2seq"]
Mode = Literal["sft", "zero_shot"]

#: Answer length per metric task, in tokens (``max_answer_tokens: null``): a label for LaMP-1/2/3,
#: a headline, title, subject or tweet for LaMP-4..7.
ANSWER_TOKENS = {"LaMP_1": 4, "LaMP_2": 8, "LaMP_3": 4, "LaMP_4": 64, "LaMP_5": 64, "LaMP_6": 64, "LaMP_7": 64}


@dataclass(frozen=True)
class DownstreamSettings:
    """How the downstream model is built, trained (``sft``), asked and scored on LaMP questions.

    Attributes:
        backbone: downstream model (alias, folder or Hub id); loaded fresh, separate from the policy.
        architecture: ``causal`` (SmolLM2, Qwen, ``tiny-random-llama``) or ``seq2seq`` (FlanT5-style).
        mode: ``sft`` (a LoRA adapter per variant, fitted on the train questions) or ``zero_shot``
            (the backbone as is).
        dtype: downstream model weights dtype.
        metric_task: LaMP task whose official metric scores the answers; None: the data's task
            (``MovieLens_rating`` is scored as ``LaMP_3``).
        max_answer_tokens: greedy answer length in tokens (the downstream answer; the profile's length
            is the generator's ``sampling.max_new_tokens``); None: the metric task's (``ANSWER_TOKENS``:
            4 for LaMP-1 and LaMP-3, 8 for LaMP-2, 64 for LaMP-4..7).
        context_tokens: token budget of the profile and of both histories (downstream tokenizer).
        history_items: most recent history items the ``recent_history`` baseline starts from.
        max_question_tokens: question inputs keep this many leading tokens.
        max_train_examples: first N train questions the ``sft`` adapters learn from (None: all).
        max_eval_examples: first N questions scored (None: all).
        lora: the ``sft`` adapter.
        epochs: ``sft`` passes over the train questions (plain AdamW loop).
        batch_size: ``sft`` questions per optimizer step.
        lr: ``sft`` learning rate.
        eval_batch_size: questions per generation (and option-scoring) batch.
        seed: seeds the LoRA init and the SFT order (in a forked RNG: training randomness is
            untouched) and the bootstrap resamples.
        bootstrap_samples: resamples of the questions for the 95% paired bootstrap intervals.
    """

    backbone: str = "smollm2-135m-instruct"
    architecture: Architecture = "causal"
    mode: Mode = "sft"
    dtype: str = "float32"
    metric_task: str | None = None
    max_answer_tokens: int | None = 16
    context_tokens: int = 128
    history_items: int = 8
    max_question_tokens: int = 512
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    lora: LoraSettings = field(default_factory=lambda: LoraSettings(rank=8, alpha=16.0, dropout=0.0))
    epochs: int = 1
    batch_size: int = 4
    lr: float = 2e-4
    eval_batch_size: int = 8
    seed: int = 0
    bootstrap_samples: int = 1000

    def __post_init__(self) -> None:
        if self.mode not in ("sft", "zero_shot"):
            raise ValueError(f"downstream mode must be 'sft' or 'zero_shot', got {self.mode!r}")
        if self.architecture not in ("causal", "seq2seq"):
            raise ValueError(f"downstream architecture must be 'causal' or 'seq2seq', got {self.architecture!r}")
        for name in ("max_answer_tokens", "epochs", "batch_size", "eval_batch_size", "bootstrap_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"downstream {name} must be >= 1, got {value}")

    def for_task(self, task: str) -> DownstreamSettings:
        """These settings as they run on ``task``'s questions: ``metric_task`` resolved (:func:`metric_task_of`,
        default ``task``) and ``max_answer_tokens`` given (None: the metric task's ``ANSWER_TOKENS``)."""
        metric_task = metric_task_of(self.metric_task or task)
        answer_tokens = self.max_answer_tokens or ANSWER_TOKENS.get(metric_task)
        if answer_tokens is None:
            raise ValueError(f"downstream max_answer_tokens is null but {metric_task} has no default answer length; set it")
        return replace(self, metric_task=metric_task, max_answer_tokens=answer_tokens)
