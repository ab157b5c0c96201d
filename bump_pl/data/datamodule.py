"""``BumpDataModule``: LaMP-format users batched into ``UserGroupBatch``es of U distinct users.

Train batches follow a pure function of ``(seed, epoch, rank, world_size)`` (see ``sampler.py``);
run the trainer with ``use_distributed_sampler=False`` so Lightning does not re-shard them. The
module's ``state_dict`` records the epoch and the batches already consumed in it, so a resumed fit
continues the data order exactly. Val/test users come from ``dev``/``test`` files, or from a seeded
``val_fraction`` of the train users when a file is missing; their held-out draw is fixed.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader

from bump_pl.cache_dir import cache_dir
from bump_pl.data.collate import UserGroupCollator
from bump_pl.data.notices import data_logger
from bump_pl.data.dataset import HeldoutStrategy, UserHeldoutDataset, render_users
from bump_pl.data.interactions import InteractionsSource, read_interactions
from bump_pl.data.item_template import ItemTemplate
from bump_pl.data.lamp import read_lamp, resolve_task
from bump_pl.data.prompts import ProfilePrompt
from bump_pl.data.sampler import MergedRankBatches, ShardedUserSampler, UserGroupBatchSampler
from bump_pl.data.sizing import Carve, batch_error
from bump_pl.data.synthetic import SyntheticUsers, ensure_synthetic_lamp
from bump_pl.data.tasks import TaskSpec, get_task
from bump_pl.data.users import UserHistory, group_users

log = data_logger(__name__)

_SPLIT_FILES = {"train": "train", "val": "dev", "test": "test"}
#: The task of ``interactions`` data when ``--data.task`` is not set: the generic spec (every mapped field).
INTERACTIONS_TASK = "interactions"


class BumpDataModule(LightningDataModule):
    """LaMP-format data for BUMP.

    Args:
        data_dir: folder with ``{train,dev,test}_questions.json`` (outputs files optional).
        synthetic: instead of ``data_dir``, synthetic LaMP users made once under
            ``$BUMP_PL_CACHE/synthetic`` (the demo's and tests' data).
        interactions: instead of ``data_dir``, one row per interaction from anything
            ``datasets.load_dataset`` reads (a Hub id, JSON-lines/CSV files) with a column mapping
            (see :class:`~bump_pl.data.interactions.InteractionsSource`); the task defaults to a
            generic one that renders every mapped field.
        task: task name (``LaMP_3``, ``LaMP-3``, any other name for generic data); ``None`` takes
            it from an outputs file. A configured task that disagrees with an outputs file is an error.
        users_per_batch: U, distinct users per batch.
        heldout_per_user: K, held-out interactions per user.
        heldout_strategy: ``"random"`` (re-drawn every train epoch) or ``"latest"`` (by date).
        heldout_template: how held-out items are written for the judge (the generator never sees
            them), e.g. ratings as words (:class:`~bump_pl.data.item_template.ItemTemplate`);
            None: as the task renders them in the prompt.
        min_context_items: users with fewer than K + this many items are skipped (count logged).
        max_context_items: at most this many most recent context items per prompt (None: all).
        max_prompt_tokens: prompts keep the most recent context items that fit this many tokens.
        profile_prompt: what the generator is asked to write (``bump fit`` links it to ``model.profile_prompt``).
        seed: seeds the user order, the held-out draws and the val/test carve-out.
        tokenizer: a tokenizer object, or a name/path resolved by ``bump_pl.models.load_tokenizer``.
        val_fraction: fraction of train users held out for val (and for test) when the file is missing.
        num_workers: DataLoader workers.
        predict_file: a LaMP questions file for ``predict_dataloader``.
        rank, world_size: override the trainer's (for tests and manual sharding).
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        tokenizer: Any = None,
        synthetic: SyntheticUsers | None = None,
        task: str | None = None,
        users_per_batch: int = 8,
        heldout_per_user: int = 4,
        heldout_strategy: HeldoutStrategy = "random",
        heldout_template: ItemTemplate | None = None,
        min_context_items: int = 4,
        max_context_items: int | None = None,
        max_prompt_tokens: int | None = 1024,
        profile_prompt: ProfilePrompt = ProfilePrompt(),
        seed: int = 0,
        val_fraction: float = 0.1,
        num_workers: int = 0,
        predict_file: str | Path | None = None,
        interactions: InteractionsSource | None = None,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        super().__init__()
        if heldout_per_user < 1 or min_context_items < 0:
            raise ValueError("heldout_per_user must be >= 1 and min_context_items >= 0")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        if sum(source is not None for source in (data_dir, synthetic, interactions)) != 1:
            raise ValueError(
                "BumpDataModule needs exactly one of data_dir (LaMP files), synthetic (generated users) or"
                " interactions (a datasets table); set the others to null (e.g. --data.synthetic null to use"
                " --data.data_dir with a config that sets synthetic users)"
            )
        if tokenizer is None:
            raise ValueError("BumpDataModule needs a tokenizer (an object, or a model name/path)")
        self.synthetic, self.interactions = synthetic, interactions
        if synthetic is not None:
            data_dir = cache_dir() / "synthetic" / synthetic.folder_name
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.tokenizer = tokenizer
        self.task_name = task
        self.users_per_batch, self.heldout_per_user = users_per_batch, heldout_per_user
        self.heldout_strategy: HeldoutStrategy = heldout_strategy
        self.heldout_template = heldout_template
        self.min_context_items, self.max_context_items = min_context_items, max_context_items
        self.max_prompt_tokens, self.seed = max_prompt_tokens, seed
        self.profile_prompt = profile_prompt
        self.val_fraction, self.num_workers = val_fraction, num_workers
        self.predict_file = Path(predict_file) if predict_file is not None else None
        self.rank, self.world_size = rank, world_size
        # val/test as a fit on this many ranks batched them (set by `bump validate`/`test` from the checkpoint)
        self.fit_world_size = 1
        self.task: TaskSpec | None = None
        self.datasets: dict[str, UserHeldoutDataset] = {}
        self.users: dict[str, list[UserHistory]] = {}  # per split: items and LaMP questions (with golds)
        self._carve: Carve | None = None  # how val/test were carved from train (for sizing errors)
        self.skipped_users: dict[str, int] = {}
        self._train_sampler: UserGroupBatchSampler | None = None
        self._resume: tuple[int, int] | None = None

    # ----------------------------------------------------------------------------- setup helpers
    def _resolve_tokenizer(self) -> Any:
        if isinstance(self.tokenizer, str):
            from bump_pl.models import load_tokenizer  # lazy: the data layer does not need models

            self.tokenizer = load_tokenizer(self.tokenizer)
        return self.tokenizer

    def _resolve_task(self, split_files: list[str]) -> TaskSpec:
        """The configured task, checked against the ``task`` of every outputs file present (never the folder name)."""
        outputs = [self.data_dir / f"{split}_outputs.json" for split in split_files]
        if self.predict_file is not None and self.predict_file.name.endswith("_questions.json"):
            outputs.append(self.predict_file.with_name(self.predict_file.name.replace("_questions.json", "_outputs.json")))
        fallback = self.synthetic.task if self.synthetic is not None else None
        return resolve_task(self.task_name, outputs, fallback)

    def _split_users(self, split: str) -> tuple[list[UserHistory], str] | None:
        """The users of ``split`` (train/val/test) and the source that names them in messages, or None
        when the data has no such split (val/test are then carved from train)."""
        assert self.task is not None
        name = _SPLIT_FILES[split]
        if self.interactions is not None:
            if name not in self.interactions.splits:
                return None
            return read_interactions(self.interactions, name, self.task), self.interactions.label(name)
        path = self.data_dir / f"{name}_questions.json"
        if split != "train" and not path.exists():
            return None
        return self._read_users(path), str(path)

    def _read_users(self, path: Path) -> list[UserHistory]:
        """Users of a questions file, with golds when its ``*_outputs.json`` sits beside it."""
        assert self.task is not None
        outputs = path.with_name(path.name.replace("_questions.json", "_outputs.json"))
        has_outputs = outputs != path and outputs.exists()
        return group_users(read_lamp(path, outputs if has_outputs else None, task=self.task))

    def _keep_long_enough(self, split: str, users: list[UserHistory], source: str) -> list[UserHistory]:
        threshold = self.heldout_per_user + self.min_context_items
        kept = [user for user in users if len(user.items) >= threshold]
        self.skipped_users[split] = len(users) - len(kept)
        if self.skipped_users[split]:
            log.warning(
                "%s: skipped %d of %d users with fewer than heldout_per_user + min_context_items = %d items",
                source, self.skipped_users[split], len(users), threshold,
            )
        if not kept:
            raise ValueError(
                f"{source}: no user has at least heldout_per_user + min_context_items = {threshold} profile items"
                f" ({len(users)} users, all too short); lower heldout_per_user or min_context_items"
            )
        return kept

    def _dataset(self, users: list[UserHistory], source: str, k: int, redraw: bool) -> UserHeldoutDataset:
        assert self.task is not None
        heldout = self.heldout_template
        return UserHeldoutDataset(
            [user.user_id for user in users],
            render_users(users, self.task.render, source),
            heldout_per_user=k,
            strategy=self.heldout_strategy,
            seed=self.seed,
            redraw=redraw,
            max_context_items=self.max_context_items,
            heldout_histories=render_users(users, heldout.render, source) if heldout is not None else None,
        )

    # ----------------------------------------------------------------------------- Lightning hooks
    def prepare_data(self) -> None:
        """Write the synthetic users once (local rank 0; other ranks wait for it)."""
        if self.synthetic is not None:
            ensure_synthetic_lamp(self.synthetic, self.data_dir.parent)

    def setup(self, stage: str | None = None) -> None:
        """Resolve the tokenizer; read, merge, filter and split users (:meth:`read`)."""
        self._resolve_tokenizer()
        self.read(stage)

    def read(self, stage: str | None = None) -> None:
        """Read, merge, filter and split the users ``stage`` needs; no tokenizer, no model (``bump``
        runs it before any model loads, so a bad file stops the command at once)."""
        if self.interactions is not None:
            if stage == "predict":
                raise ValueError("predict reads a LaMP questions file (predict_file) with data_dir, not interactions")
            if not self.datasets:  # read once per command
                self.task = get_task(self.task_name or INTERACTIONS_TASK)
                self._setup_splits()
            return
        if stage != "predict" and not self.data_dir.is_dir():
            if self.synthetic is None:
                raise FileNotFoundError(
                    f"data_dir {self.data_dir} does not exist; set --data.data_dir to a folder with"
                    " {train,dev,test}_questions.json"
                )
            self.prepare_data()  # used without a trainer
        if stage == "predict":
            if self.predict_file is None:
                raise ValueError("predict needs predict_file (a LaMP questions file)")
            self.task = self._resolve_task(list(_SPLIT_FILES.values()))
            self.users["predict"] = self._read_users(self.predict_file)
            return
        if self.datasets:  # read once per command: `validate` before `fit` sets up twice
            return
        self.task = self._resolve_task(list(_SPLIT_FILES.values()))
        self._setup_splits()

    def _setup_splits(self) -> None:
        """Train, val and test users (val/test carved from train users where the data has none)."""
        read = self._split_users("train")
        assert read is not None
        train, train_source = self._keep_long_enough("train", read[0], read[1]), read[1]
        carve = random.Random(f"carve:{self.seed}")
        carve_size = max(1, round(self.val_fraction * len(train)))
        carved, train_users = [], len(train)
        split_users: dict[str, tuple[list[UserHistory], str]] = {}
        for split in ("val", "test"):
            read = self._split_users(split)
            if read is not None:
                split_users[split] = (self._keep_long_enough(split, *read), read[1])
                continue
            if carve_size >= len(train):
                raise ValueError(
                    f"{train_source}: no {_SPLIT_FILES[split]} split and {len(train)} train users are too few to carve {split} from"
                )
            taken = set(carve.sample(range(len(train)), carve_size))
            split_users[split] = ([train[i] for i in sorted(taken)], train_source)
            train = [user for i, user in enumerate(train) if i not in taken]
            carved.append(split)
        self._carve = Carve(train_users, tuple(carved), train_source, self.val_fraction) if carved else None
        self.users["train"] = train
        self.datasets["train"] = self._dataset(train, train_source, self.heldout_per_user, redraw=True)
        for split, (users, source) in split_users.items():
            self.users[split] = users
            self.datasets[split] = self._dataset(users, source, self.heldout_per_user, redraw=False)

    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        rank = self.rank if self.rank is not None else (trainer.global_rank if trainer is not None else 0)
        world = self.world_size if self.world_size is not None else (trainer.world_size if trainer is not None else 1)
        return rank, world

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if split not in self.datasets:
            raise RuntimeError(f"call setup() before requesting the {split} dataloader")
        dataset = self.datasets[split]
        rank, world = self._rank_world()
        batches = UserGroupBatchSampler(
            ShardedUserSampler(len(dataset), self.seed, rank, world, shuffle=shuffle), self.users_per_batch
        )
        if split != "train" and self.fit_world_size > world:  # this process stands for several of the fit's ranks
            per = self.fit_world_size // world
            batches = MergedRankBatches([
                UserGroupBatchSampler(ShardedUserSampler(len(dataset), self.seed, v, self.fit_world_size, shuffle=False),
                                      self.users_per_batch)
                for v in range(rank * per, (rank + 1) * per)
            ])
        if len(batches) == 0:
            raise ValueError(batch_error(split, len(dataset), world, self.users_per_batch, self._carve))
        if split == "train":
            self._train_sampler = batches
            if self._resume is not None:
                batches.resume_from(*self._resume)
                self._resume = None
        return DataLoader(
            dataset,
            batch_sampler=batches,
            collate_fn=UserGroupCollator(self.tokenizer, self.max_prompt_tokens, self.profile_prompt),
            num_workers=self.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        """U-user groups, reshuffled every epoch, this rank's shard, resumable."""
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """U-user groups in a fixed order with a fixed held-out draw."""
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """Like ``val_dataloader`` over the test users."""
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        """Every user of ``predict_file`` exactly once over all ranks, in file order (rank ``r`` the
        ``r``-th contiguous share); all history as context, no held-out."""
        return self.profile_dataloader("predict", shard=self._rank_world())

    def profile_dataloader(
        self, split: str, exclude: Collection[str] = (), shard: tuple[int, int] = (0, 1)
    ) -> DataLoader:
        """Every user of ``split`` exactly once (minus ``exclude``d ids), in order, ``users_per_batch`` a batch.

        All of a user's (most recent, prompt-fitting) history is context and ``heldout`` is empty: the
        input for one profile per user (prediction, the profile cache). ``shard=(rank, world_size)``
        keeps the ``rank``-th of ``world_size`` contiguous shares (sizes differ by at most one user).
        """
        if split not in self.users:
            stage = "predict" if split == "predict" else "fit"
            raise RuntimeError(f"call setup({stage!r}) before requesting the {split} profile dataloader")
        excluded = set(exclude)
        users = [user for user in self.users[split] if user.user_id not in excluded]
        rank, world = shard
        users = users[len(users) * rank // world : len(users) * (rank + 1) // world]
        source = str(self.predict_file if split == "predict" else self.data_dir or self.interactions.path)
        dataset = self._dataset(users, source, k=0, redraw=False)
        # A sampler object, not a list: Lightning wraps it to track batch indices for prediction writers.
        groups = UserGroupBatchSampler(
            ShardedUserSampler(len(dataset), self.seed, shuffle=False), self.users_per_batch, drop_last=False
        )
        return DataLoader(
            dataset,
            batch_sampler=groups,
            collate_fn=UserGroupCollator(self.tokenizer, self.max_prompt_tokens, self.profile_prompt),
            num_workers=self.num_workers,
        )

    # ----------------------------------------------------------------------------- resumability
    def state_dict(self) -> dict[str, Any]:
        """``{"epoch", "batches_done"}`` of the train data order.

        Under a trainer these come from its progress counters (batches actually processed, not the
        ones the loader prefetched); without one, from the train sampler.
        """
        trainer = self.trainer
        if trainer is not None:
            progress = trainer.fit_loop.epoch_loop.batch_progress.current
            return {"epoch": trainer.current_epoch, "batches_done": progress.processed}
        if self._train_sampler is not None:
            return {"epoch": self._train_sampler.sampler.epoch, "batches_done": self._train_sampler.batches_yielded}
        return {"epoch": 0, "batches_done": 0}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Make the next pass over the recorded epoch skip its already-consumed batches."""
        self._resume = (int(state_dict["epoch"]), int(state_dict["batches_done"]))
        if self._train_sampler is not None:
            self._train_sampler.resume_from(*self._resume)
            self._resume = None
