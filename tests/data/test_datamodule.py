"""BumpDataModule invariants on synthetic users and (when present) on MovieLens in LaMP format."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch

from bump_pl.data import BumpDataModule, LampFormatError, UserGroupBatch
from bump_pl.models.tiny import tiny_tokenizer


def _module(data_dir: Path, **kwargs: object) -> BumpDataModule:
    options = dict(users_per_batch=4, heldout_per_user=3, min_context_items=2, max_prompt_tokens=None, seed=0)
    options.update(kwargs)
    module = BumpDataModule(data_dir, tokenizer=tiny_tokenizer(), **options)
    module.setup("fit")
    return module


def _epoch(module: BumpDataModule, epoch: int) -> list[UserGroupBatch]:
    loader = module.train_dataloader()
    loader.batch_sampler.sampler.set_epoch(epoch)
    return list(loader)


def _check_batch(batch: UserGroupBatch, users: int, k: int, max_tokens: int | None = None) -> None:
    assert len(set(batch.user_ids)) == len(batch.user_ids) == users
    assert all(len(h) == k for h in batch.heldout)
    assert batch.input_ids.shape == batch.attention_mask.shape and batch.input_ids.dtype == torch.long
    assert torch.all(batch.attention_mask[:, -1] == 1)  # left padding
    for row, (prompt, context, heldout) in enumerate(zip(batch.prompts, batch.context, batch.heldout)):
        assert all(item in prompt for item in context)
        assert not any(item in prompt for item in heldout)
        length = int(batch.attention_mask[row].sum())
        assert batch.input_ids[row, -length:].tolist() == list(tiny_tokenizer()(prompt, add_special_tokens=False)["input_ids"])
        if max_tokens is not None:
            assert length <= max_tokens


def test_batches_invariants_on_synthetic(synthetic_lamp3: Path) -> None:
    module = _module(synthetic_lamp3)
    assert module.task.name == "LaMP_3"  # from the outputs files
    assert {split: len(ds) for split, ds in module.datasets.items()} == {"train": 28, "val": 6, "test": 6}
    batches = _epoch(module, 0)
    assert len(batches) == 7
    for batch in batches:
        _check_batch(batch, users=4, k=3)
        assert all(len(context) == 9 for context in batch.context)  # 12 items - 3 held out
    assert len({u for b in batches for u in b.user_ids}) == 28


def test_same_seed_same_batches_and_epochs_redraw(synthetic_lamp3: Path) -> None:
    first, again = _epoch(_module(synthetic_lamp3), 0), _epoch(_module(synthetic_lamp3), 0)
    assert [(b.user_ids, b.heldout, b.prompts) for b in first] == [(b.user_ids, b.heldout, b.prompts) for b in again]
    assert torch.equal(first[0].input_ids, again[0].input_ids)
    second = _epoch(_module(synthetic_lamp3), 1)
    assert [b.user_ids for b in first] != [b.user_ids for b in second]
    heldout = lambda batches: {u: h for b in batches for u, h in zip(b.user_ids, b.heldout)}  # noqa: E731
    h0, h1 = heldout(first), heldout(second)
    changed = [u for u in h0 if u in h1 and h0[u] != h1[u]]
    assert len(changed) >= 0.8 * len(set(h0) & set(h1))


def test_latest_strategy_holds_out_the_most_recent_items(synthetic_lamp3: Path) -> None:
    module = _module(synthetic_lamp3, heldout_strategy="latest")
    questions = json.loads((synthetic_lamp3 / "train_questions.json").read_text())
    texts = {q["user_id"]: [item["text"] for item in q["profile"]] for q in questions}
    for batch in _epoch(module, 0):
        for user, heldout, context in zip(batch.user_ids, batch.heldout, batch.context):
            assert [h.split("; score:")[0] for h in heldout] == [f"text: {t}" for t in texts[user][-3:]]
            assert [c.split("; score:")[0] for c in context] == [f"text: {t}" for t in texts[user][:-3]]


def test_val_draw_is_fixed_across_epochs(synthetic_lamp3: Path) -> None:
    module = _module(synthetic_lamp3)
    loader = module.val_dataloader()
    runs = []
    for epoch in (0, 5):
        loader.batch_sampler.sampler.set_epoch(epoch)
        runs.append([(b.user_ids, b.heldout) for b in loader])
    assert runs[0] == runs[1] and len(runs[0]) == 1  # 6 val users, U=4: one full group


def test_ranks_get_disjoint_users_covering_all(synthetic_lamp3: Path) -> None:
    seen = [{u for b in _epoch(_module(synthetic_lamp3, rank=r, world_size=2, users_per_batch=2), 3) for u in b.user_ids}
            for r in (0, 1)]
    assert not seen[0] & seen[1] and len(seen[0] | seen[1]) == 28


def test_state_dict_resume_continues_exactly(synthetic_lamp3: Path) -> None:
    full = [b.user_ids for b in _epoch(_module(synthetic_lamp3), 2)]
    module = _module(synthetic_lamp3)
    loader = module.train_dataloader()
    loader.batch_sampler.sampler.set_epoch(2)
    iterator = iter(loader)
    consumed = [next(iterator).user_ids for _ in range(3)]
    state = module.state_dict()
    assert state == {"epoch": 2, "batches_done": 3}
    resumed = _module(synthetic_lamp3)
    resumed.load_state_dict(state)
    rest = [b.user_ids for b in _epoch(resumed, 2)]
    assert consumed + rest == full


def test_short_users_are_skipped_with_a_count(tmp_path: Path, synthetic_lamp3: Path, caplog: pytest.LogCaptureFixture) -> None:
    shutil.copytree(synthetic_lamp3, tmp_path / "d")
    path = tmp_path / "d" / "train_questions.json"
    questions = json.loads(path.read_text())
    for question in questions[:5]:
        question["profile"] = question["profile"][:4]  # below K + min_context_items = 5
    path.write_text(json.dumps(questions))
    with caplog.at_level(logging.WARNING):
        module = _module(tmp_path / "d")
    assert module.skipped_users == {"train": 5, "val": 0, "test": 0} and len(module.datasets["train"]) == 23
    assert "skipped 5 of 28 users" in caplog.text
    with pytest.raises(ValueError, match=r"at least heldout_per_user \+ min_context_items = 13 profile items"):
        _module(tmp_path / "d", heldout_per_user=3, min_context_items=10)


def test_max_prompt_tokens_keeps_the_most_recent_items(synthetic_lamp3: Path) -> None:
    module = _module(synthetic_lamp3, max_prompt_tokens=900, heldout_strategy="latest")
    everything = _module(synthetic_lamp3, heldout_strategy="latest")
    for cut, full in zip(_epoch(module, 0), _epoch(everything, 0)):
        _check_batch(cut, users=4, k=3, max_tokens=900)
        assert cut.input_ids.shape[1] <= 900
        for kept, context in zip(cut.context, full.context):
            assert 0 < len(kept) < len(context) and kept == context[-len(kept):]


def test_missing_dev_and_test_are_carved_from_train(synthetic_lamp3: Path, tmp_path: Path) -> None:
    folder = tmp_path / "one"
    folder.mkdir()
    for name in ("train_questions.json", "train_outputs.json"):
        shutil.copy(synthetic_lamp3 / name, folder / name)
    a, b = _module(folder, val_fraction=0.25), _module(folder, val_fraction=0.25)
    sizes = {split: len(ds) for split, ds in a.datasets.items()}
    assert sizes == {"train": 14, "val": 7, "test": 7}
    split_users = {split: set(ds.user_ids) for split, ds in a.datasets.items()}
    assert not (split_users["train"] & split_users["val"]) and not (split_users["val"] & split_users["test"])
    assert split_users == {split: set(ds.user_ids) for split, ds in b.datasets.items()}


def test_configured_task_must_agree_with_outputs(synthetic_lamp3: Path) -> None:
    assert _module(synthetic_lamp3, task="LaMP-3").task.name == "LaMP_3"
    with pytest.raises(LampFormatError, match="task 'LaMP_3' disagrees with --data.task 'LaMP_7'"):
        _module(synthetic_lamp3, task="LaMP_7")


def test_predict_covers_every_user_once(synthetic_lamp3: Path) -> None:
    module = BumpDataModule(synthetic_lamp3, tiny_tokenizer(), users_per_batch=4,
                            predict_file=synthetic_lamp3 / "train_questions.json", max_prompt_tokens=None)
    module.setup("predict")
    batches = list(module.predict_dataloader())
    assert [len(b) for b in batches] == [4] * 7 and all(h == [] for b in batches for h in b.heldout)
    assert len({u for b in batches for u in b.user_ids}) == 28
    assert all(len(c) == 12 for b in batches for c in b.context)
    in_order = [u for b in batches for u in b.user_ids]
    shards = []
    for rank in range(3):  # 28 users over 3 ranks: contiguous shares of 9, 9 and 10, none dropped
        sharded = BumpDataModule(synthetic_lamp3, tiny_tokenizer(), users_per_batch=4, rank=rank, world_size=3,
                                 predict_file=synthetic_lamp3 / "train_questions.json", max_prompt_tokens=None)
        sharded.setup("predict")
        shards.append([u for b in sharded.predict_dataloader() for u in b.user_ids])
    assert [len(shard) for shard in shards] == [9, 9, 10] and sum(shards, []) == in_order


def test_batch_to_device_and_validation() -> None:
    batch = UserGroupBatch(["a", "b"], ["p", "q"], [[], []], [[], []], torch.ones(2, 3, dtype=torch.long),
                           torch.ones(2, 3, dtype=torch.long))
    moved = batch.to("cpu")
    assert moved.user_ids == ["a", "b"] and moved.input_ids.device.type == "cpu"
    from lightning.fabric.utilities.apply_func import move_data_to_device

    assert isinstance(move_data_to_device(batch, torch.device("cpu")), UserGroupBatch)
    with pytest.raises(ValueError, match="distinct users"):
        UserGroupBatch(["a", "a"], ["p", "q"], [[], []], [[], []], batch.input_ids, batch.attention_mask)


def test_movielens_invariants(movielens_dir: Path) -> None:
    module = _module(movielens_dir, users_per_batch=8, heldout_per_user=4, min_context_items=4, max_prompt_tokens=1024)
    assert module.task.name == "MovieLens_rating" and not module.task.known
    assert {split: len(ds) for split, ds in module.datasets.items()} == {"train": 424, "val": 83, "test": 103}
    loader = module.train_dataloader()
    assert len(loader) == 53
    for number, batch in enumerate(loader):
        _check_batch(batch, users=8, k=4, max_tokens=1024)
        if number == 3:
            break
    ranks = [{u for b in _epoch(_module(movielens_dir, rank=r, world_size=2, users_per_batch=8), 0) for u in b.user_ids}
             for r in (0, 1)]
    assert not ranks[0] & ranks[1] and len(ranks[0]) == len(ranks[1]) == 208  # 212 per rank → 26 groups of 8


def test_tokenizer_name_is_resolved_lazily(synthetic_lamp3: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bump_pl.models

    calls: list[str] = []
    monkeypatch.setattr(bump_pl.models, "load_tokenizer", lambda name, **kw: calls.append(name) or tiny_tokenizer(),
                        raising=False)
    module = BumpDataModule(synthetic_lamp3, tokenizer="some/model", max_prompt_tokens=None)
    assert calls == []  # nothing loaded at construction
    module.setup("fit")
    assert calls == ["some/model"] and module.tokenizer.pad_token_id == 0


def test_users_keep_their_questions_and_golds(synthetic_lamp3: Path) -> None:
    module = _module(synthetic_lamp3)
    golds = json.loads((synthetic_lamp3 / "dev_outputs.json").read_text())["golds"]
    val = module.users["val"]
    assert [u.user_id for u in val] == module.datasets["val"].user_ids
    assert {q.id: q.output for u in val for q in u.questions} == {g["id"]: g["output"] for g in golds}


def test_one_process_standing_for_a_fits_two_ranks_batches_their_val_users_together(synthetic_lamp3: Path) -> None:
    """`bump validate` of a 2-rank fit on one process: each batch (one in-batch ranking) holds the users
    both ranks held at that step, with their held-out draws, so val/ndcg is the fit's figure."""
    ranks = [[(b.user_ids, b.heldout) for b in _module(synthetic_lamp3, rank=r, world_size=2, users_per_batch=1).val_dataloader()]
             for r in (0, 1)]
    merged = _module(synthetic_lamp3, rank=0, world_size=1, users_per_batch=1)
    plain = [b.user_ids for b in merged.val_dataloader()]
    merged.fit_world_size = 2
    together = [(b.user_ids, b.heldout) for b in merged.val_dataloader()]
    assert len(ranks[0]) == 3 and [users for users, _ in together] != plain
    assert together == [(a[0] + b[0], a[1] + b[1]) for a, b in zip(*ranks)]


def test_data_warnings_are_said_once_per_command_by_rank_zero_only(
    tmp_path: Path, synthetic_lamp3: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bump fit` sets the data up for the validation before fit and again for fit: one warning, not
    two; under DDP the other ranks read the same files and say nothing."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    shutil.copytree(synthetic_lamp3, tmp_path / "d")
    path = tmp_path / "d" / "train_questions.json"
    questions = json.loads(path.read_text())
    questions[0]["profile"][0]["text"] = " "
    questions[1]["profile"] = questions[1]["profile"][:4]
    path.write_text(json.dumps(questions))
    with caplog.at_level(logging.WARNING):
        module = _module(tmp_path / "d")  # setup("fit")
        module.setup("validate")
        module.setup("fit")
    assert caplog.text.count("dropped 1 of") == 1 and caplog.text.count("skipped 1 of") == 1
    caplog.clear()
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    with caplog.at_level(logging.WARNING):
        _module(tmp_path / "d")
    assert "dropped" not in caplog.text and "skipped" not in caplog.text
