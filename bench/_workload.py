"""The BUMP workload both sides of ``vs_trl.py`` train on: settings, users, exact-length prompts.

The parent process builds the workload once (synthetic LaMP users through bump-pl's real data
path: ``write_synthetic_lamp`` -> ``BumpDataModule`` -> the first train ``UserGroupBatch``) and
writes it to a JSON file; each side's subprocess reads that file, so both train on the very same
users, held-out items and prompt token ids.

Prompts are cut to *exactly* ``prompt_tokens`` tokens: the most recent context items that fit
(bump-pl's ``fit_context``), then the tail of the next older item, cut token by token, fills the
remaining budget. Token ids are what TRL's ``GRPOTrainer`` gets from ``tokenizer(prompt)``
(``add_special_tokens=True``): for SmolLM2 that is the chat-templated prompt as is; for the
byte-level tiny tokenizer it ends with EOS. bump-pl's side is fed these same ids.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

@dataclass(frozen=True)
class BenchSettings:
    """Everything both sides must agree on (the CLI flags of ``vs_trl.py``)."""

    model: str = "tiny-random-llama"
    judge: str = "all-minilm-l6-v2"
    users: int = 2
    group_size: int = 8
    heldout: int = 4
    prompt_tokens: int = 1024
    completion_tokens: int = 128
    steps: int = 3
    seed: int = 0
    beta: float = 0.0
    learning_rate: float = 1e-5
    lora_rank: int = 16
    lora_alpha: int = 32
    temperature: float = 1.0
    trl_gradient_checkpointing: bool = True
    trl_micro_batch: int = 0
    bump_grad_budget_tokens: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.users < 2:
            problems.append(f"--users must be >= 2 (other users are the negatives), got {self.users}")
        if self.group_size < 2:
            problems.append(f"--group-size must be >= 2 (GRPO groups), got {self.group_size}")
        if self.steps < 2:
            problems.append(f"--steps must be >= 2 (the first step is a warm-up), got {self.steps}")
        if min(self.prompt_tokens, self.completion_tokens, self.heldout) < 1:
            problems.append("--prompt-tokens, --completion-tokens and --heldout must be >= 1")
        rollouts = self.users * self.group_size
        if self.trl_micro_batch < 0 or (self.trl_micro_batch and rollouts % self.trl_micro_batch):
            problems.append(f"--trl-micro-batch {self.trl_micro_batch} must divide users*group_size={rollouts}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def rollouts(self) -> int:
        """``U*G`` completions per optimizer step."""
        return self.users * self.group_size

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BenchSettings:
        return cls(**values)


@dataclass
class Workload:
    """The users of every step.

    Attributes:
        settings: the run's settings.
        user_ids: ``U`` distinct ids.
        prompts: ``U`` prompt texts; ``tokenizer(prompts[u])["input_ids"] == prompt_ids[u]``.
        prompt_ids: ``U`` lists of exactly ``settings.prompt_tokens`` token ids.
        heldout: ``U`` lists of ``K`` rendered held-out interactions (the reward's candidates).
    """

    settings: BenchSettings
    user_ids: list[str]
    prompts: list[str]
    prompt_ids: list[list[int]]
    heldout: list[list[str]]
    tokenizer_note: str = field(default="")

    def save(self, path: str | Path) -> None:
        payload = asdict(self)
        Path(path).write_text(json.dumps(payload), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Workload:
        try:
            payload = json.loads(Path(path).read_text(encoding="utf-8"))
            payload["settings"] = BenchSettings.from_dict(payload["settings"])
            return cls(**payload)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a vs_trl workload file ({error})") from None


def trl_token_ids(tokenizer: Any, prompt: str) -> list[int]:
    """The ids TRL's ``GRPOTrainer`` generates from for a plain-text prompt."""
    return list(tokenizer(text=prompt)["input_ids"])


def exact_length_prompt(context: list[str], tokenizer: Any, length: int) -> tuple[str, list[int]]:
    """A prompt over the most recent ``context`` items with exactly ``length`` TRL token ids.

    The most recent whole items that fit are kept; the tail of the next older item, cut token by
    token (after an ellipsis), fills the rest, like a history truncated on the left.

    Raises:
        ValueError: the prompt without history is already too long, the history is too short to
            fill ``length`` tokens, or no cut hits ``length`` exactly.
    """
    from bump_pl.data.prompts import build_prompt

    def size(items: list[str]) -> int:
        return len(trl_token_ids(tokenizer, build_prompt(items, tokenizer)))

    floor = size([])
    if floor >= length:
        raise ValueError(f"--prompt-tokens {length} is too small: the prompt without any history has {floor} tokens")
    low, high = 0, len(context) + 1  # the last `low` items fit in `length`, the last `high` do not
    while high - low > 1:
        middle = (low + high) // 2
        if size(context[len(context) - middle :]) <= length:
            low = middle
        else:
            high = middle
    if size(context[len(context) - low :]) == length:
        prompt = build_prompt(context[len(context) - low :], tokenizer)
        return prompt, trl_token_ids(tokenizer, prompt)
    # Cut the next older item; when even its shortest cut overshoots, cut the oldest kept one instead.
    for whole in (low, low - 1):
        if whole < 0 or whole == len(context):
            continue
        found = _fill_with_tail(context[len(context) - whole - 1], context[len(context) - whole :], tokenizer, length)
        if found is not None:
            return found
    if low == len(context):
        raise ValueError(f"the synthetic history ({len(context)} items) renders to fewer than {length} prompt tokens")
    raise ValueError(f"no cut of the history gives exactly {length} prompt tokens (tokenizer round trip)")


def _fill_with_tail(cut_item: str, kept: list[str], tokenizer: Any, length: int) -> tuple[str, list[int]] | None:
    """The prompt ``[marker + tail of cut_item, *kept]`` with exactly ``length`` TRL ids, if a tail gives it.

    A BPE tokenizer may merge the marker with the tail's first token, so one marker can skip a
    length; the others then hit it.
    """
    from bump_pl.data.prompts import build_prompt

    tail_ids = tokenizer(cut_item, add_special_tokens=False)["input_ids"]
    for marker in ("...", "... ", "[...]", "(cut) "):

        def attempt(count: int) -> tuple[str, list[int]]:
            candidate = build_prompt([marker + tokenizer.decode(tail_ids[len(tail_ids) - count :]), *kept], tokenizer)
            return candidate, trl_token_ids(tokenizer, candidate)

        low, high = 0, len(tail_ids)  # smallest tail whose prompt reaches `length` tokens
        while low < high:
            middle = (low + high) // 2
            if len(attempt(middle)[1]) >= length:
                high = middle
            else:
                low = middle + 1
        for count in range(max(0, low - 3), min(len(tail_ids), low + 3) + 1):
            candidate, ids = attempt(count)
            if len(ids) == length:
                return candidate, ids
    return None


def build_workload(settings: BenchSettings, work_dir: str | Path | None = None) -> Workload:
    """Synthetic LaMP-3 users through ``BumpDataModule``; prompts cut to exactly ``prompt_tokens``."""
    from bump_pl.data.datamodule import BumpDataModule
    from bump_pl.data.synthetic import write_synthetic_lamp
    from bump_pl.models import load_tokenizer

    tokenizer = load_tokenizer(settings.model)
    # ~40 words per review is ~60 tokens (SmolLM2) or ~250 bytes (byte-level): enough items to
    # overfill the prompt whichever tokenizer, plus the held-out ones.
    items = settings.heldout + 8 + settings.prompt_tokens // 40
    num_users = max(3, -(-settings.users * 10 // 7) + 2)  # 70% of users land in the train split
    with tempfile.TemporaryDirectory(dir=work_dir) as data_dir:
        write_synthetic_lamp(data_dir, "LaMP_3", num_users=num_users, seed=settings.seed, items_per_user=items)
        data = BumpDataModule(
            data_dir,
            tokenizer,
            task="LaMP_3",
            users_per_batch=settings.users,
            heldout_per_user=settings.heldout,
            max_prompt_tokens=None,
            seed=settings.seed,
        )
        data.setup("fit")
        batch = next(iter(data.train_dataloader()))
    prompts, prompt_ids = [], []
    for context in batch.context:
        prompt, ids = exact_length_prompt(context, tokenizer, settings.prompt_tokens)
        prompts.append(prompt)
        prompt_ids.append(ids)
    note = "chat template" if getattr(tokenizer, "chat_template", None) else "plain text prompt + tokenizer specials"
    return Workload(settings, list(batch.user_ids), prompts, prompt_ids, [list(h) for h in batch.heldout], note)
