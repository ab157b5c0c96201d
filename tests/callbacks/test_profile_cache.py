"""ProfileCacheCallback: content, atomicity under injected failures, resume, hostile ids, schedule, modes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from datasets import Dataset

from bump_pl.callbacks import ProfileCacheCallback, load_profiles
from bump_pl.runs import profile_store
from callback_fakes import FakeGenerator, fake_trainer, in_run, make_datamodule


def _expected(datamodule, splits: list[str]) -> dict[tuple[str, str], str]:
    return {
        (user.user_id, split): f"profile of {user.user_id}: likes {len(user.user_id)} things"
        for split in splits
        for user in datamodule.users[split]
    }


def test_cache_holds_one_profile_per_user_and_split(lamp3_dir: Path, tmp_path: Path) -> None:
    datamodule, module = make_datamodule(lamp3_dir), FakeGenerator()
    module.train()
    module.judge.eval()  # a frozen part inside a module in train mode
    callback = in_run(ProfileCacheCallback(splits=["train", "val"]), tmp_path)
    cached = callback.write(fake_trainer(tmp_path, datamodule, step=7), module)

    assert cached.path == tmp_path / "profiles" / "step-000007" and cached.step == 7
    assert load_profiles(cached.path) == _expected(datamodule, ["train", "val"])
    assert load_profiles(tmp_path / "profiles") == _expected(datamodule, ["train", "val"])  # root -> latest step
    rows = [json.loads(line) for line in (cached.path / "profiles.jsonl").read_text().splitlines()]
    assert [(r["user_id"], r["split"]) for r in rows] == list(_expected(datamodule, ["train", "val"]))
    assert {r["step"] for r in rows} == {7}
    # every user generated exactly once; train mode restored per submodule (the frozen judge stays eval)
    assert sorted(module.generated) == sorted(u.user_id for s in ("train", "val") for u in datamodule.users[s])
    assert module.training and module.head.training and not module.judge.training
    assert not (tmp_path / "profiles" / ".partial-step-000007").exists()


def test_failure_mid_generation_keeps_previous_cache_and_resume_skips_cached_users(lamp3_dir: Path, tmp_path: Path) -> None:
    datamodule = make_datamodule(lamp3_dir)
    callback = in_run(ProfileCacheCallback(splits=["train", "val"]), tmp_path)
    callback.write(fake_trainer(tmp_path, datamodule, step=2), FakeGenerator())
    previous = load_profiles(tmp_path / "profiles")

    failing = FakeGenerator(fail_on_call=3)
    with pytest.raises(RuntimeError, match="injected failure"):
        callback.write(fake_trainer(tmp_path, datamodule, step=4), failing)
    assert not (tmp_path / "profiles" / "step-000004").exists()
    assert load_profiles(tmp_path / "profiles") == previous  # still the step-2 cache
    done_before_crash = failing.generated[: 2 * datamodule.users_per_batch]  # two whole batches were sharded

    resumed = FakeGenerator()
    cached = callback.write(fake_trainer(tmp_path, datamodule, step=4), resumed)
    everyone = [u.user_id for s in ("train", "val") for u in datamodule.users[s]]
    assert sorted(resumed.generated) == sorted(set(everyone) - set(done_before_crash))
    assert len(resumed.generated) == len(everyone) - 2 * datamodule.users_per_batch
    assert load_profiles(cached.path) == _expected(datamodule, ["train", "val"])

    again = FakeGenerator()  # a complete cache of this step is kept: nothing is generated
    callback.write(fake_trainer(tmp_path, datamodule, step=4), again)
    assert again.calls == []


def test_failure_while_saving_leaves_no_half_cache(lamp3_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    datamodule = make_datamodule(lamp3_dir)
    callback = in_run(ProfileCacheCallback(splits=["val"]), tmp_path)
    callback.write(fake_trainer(tmp_path, datamodule, step=2), FakeGenerator())
    previous = load_profiles(tmp_path / "profiles" / "step-000002")

    real_save = Dataset.save_to_disk

    def save_then_fail(self: Dataset, path: str, **kwargs: object) -> None:
        real_save(self, path, **kwargs)  # the Arrow files are written ...
        raise OSError("disk full")  # ... and the JSONL never is

    monkeypatch.setattr(Dataset, "save_to_disk", save_then_fail)
    with pytest.raises(OSError, match="disk full"):
        callback.write(fake_trainer(tmp_path, datamodule, step=4), FakeGenerator())
    names = sorted(p.name for p in (tmp_path / "profiles").iterdir())
    assert names == [".partial-step-000004", "step-000002"]  # no step-4 folder, no leftover temp folder
    assert load_profiles(tmp_path / "profiles") == previous

    monkeypatch.setattr(Dataset, "save_to_disk", real_save)
    resumed = FakeGenerator()
    callback.write(fake_trainer(tmp_path, datamodule, step=4), resumed)
    assert resumed.calls == []  # every user was sharded before the failed save
    assert load_profiles(tmp_path / "profiles") == _expected(datamodule, ["val"])


def test_hostile_user_ids_never_escape_the_cache(lamp3_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    hostile = ["../../x", "/etc/passwd", "a/../../b", "..", "nul\x00byte", "C:\\evil"]
    for name in ("train", "dev", "test"):
        questions = json.loads((lamp3_dir / f"{name}_questions.json").read_text())
        if name == "dev":
            ids = sorted({q["user_id"] for q in questions})
            rename = dict(zip(ids, hostile))
            for question in questions:
                question["user_id"] = rename[question["user_id"]]
        (data / f"{name}_questions.json").write_text(json.dumps(questions))
        (data / f"{name}_outputs.json").write_text((lamp3_dir / f"{name}_outputs.json").read_text())
    datamodule = make_datamodule(data)
    val_ids = [user.user_id for user in datamodule.users["val"]]
    assert set(val_ids) <= set(hostile) and len(val_ids) >= 2

    log_dir = tmp_path / "run" / "logs"
    before = {p for p in tmp_path.rglob("*")}
    in_run(ProfileCacheCallback(splits=["val"]), log_dir).write(fake_trainer(log_dir, datamodule, step=1), FakeGenerator())
    created = {p for p in tmp_path.rglob("*")} - before
    root = (log_dir / "profiles").resolve()
    assert created and all(p.resolve().is_relative_to(root) or p.resolve() in root.parents for p in created)
    assert all(p.name in {"profiles", "step-000001", "dataset", "profiles.jsonl"} or not any(h in p.name for h in ("x", "passwd", "evil")) for p in created)
    assert load_profiles(log_dir / "profiles") == {(uid, "val"): f"profile of {uid}: likes {len(uid)} things" for uid in val_ids}


def test_shard_names_are_hashes_of_the_keys() -> None:
    rows = [{"user_id": "../../x", "split": "val"}]
    name = profile_store.shard_name(rows)
    assert name.startswith("shard-") and name.endswith(".jsonl") and "/" not in name and ".." not in name
    assert name == profile_store.shard_name([dict(rows[0])]) != profile_store.shard_name([{"user_id": "../../y", "split": "val"}])


def test_schedule_every_n_validations_skips_sanity_check_and_validate(lamp3_dir: Path, tmp_path: Path) -> None:
    datamodule = make_datamodule(lamp3_dir)
    callback = in_run(ProfileCacheCallback(splits=["val"], every_n_validations=2), tmp_path)
    module = FakeGenerator()
    for step in (1, 2, 3, 4):
        callback.on_validation_end(fake_trainer(tmp_path, datamodule, step=step), module)
    sanity = fake_trainer(tmp_path, datamodule, step=5)
    sanity.sanity_checking = True
    callback.on_validation_end(sanity, module)
    validate_only = fake_trainer(tmp_path, datamodule, step=6)
    validate_only.state.fn = "validate"
    callback.on_validation_end(validate_only, module)
    callback.on_fit_end(fake_trainer(tmp_path, datamodule, step=6), module)  # when="validation": no-op

    assert sorted(p.name for p in (tmp_path / "profiles").iterdir()) == ["step-000002", "step-000004"]
    assert callback.latest is not None and callback.latest.step == 4 and callback.state_dict() == {"validations": 4}

    at_end = in_run(ProfileCacheCallback(splits=["val"], when="fit_end"), tmp_path)
    at_end.on_validation_end(fake_trainer(tmp_path, datamodule, step=8), module)
    assert not (tmp_path / "profiles" / "step-000008").exists()
    at_end.on_fit_end(fake_trainer(tmp_path, datamodule, step=8), module)
    assert (tmp_path / "profiles" / "step-000008").is_dir()


def test_bad_arguments_and_missing_cache_are_clear_errors(lamp3_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="when must be"):
        ProfileCacheCallback(when="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="every_n_validations"):
        ProfileCacheCallback(every_n_validations=0)
    with pytest.raises(ValueError, match=r"splits \['dev'\] are not in the data module"):
        in_run(ProfileCacheCallback(splits=["dev"]), tmp_path).write(fake_trainer(tmp_path, make_datamodule(lamp3_dir), 1), FakeGenerator())
    with pytest.raises(FileNotFoundError, match="no complete profile cache"):
        load_profiles(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a profile cache"):
        load_profiles(tmp_path / "step-000001")


def test_profiles_are_logged_to_tensorboard_as_text(lamp3_dir: Path, tmp_path: Path) -> None:
    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = TensorBoardLogger(save_dir=str(tmp_path), name="tb", version=0)
    datamodule = make_datamodule(lamp3_dir)
    in_run(ProfileCacheCallback(splits=["val"], num_logged=2), tmp_path).write(fake_trainer(tmp_path, datamodule, 3, [logger]), FakeGenerator())
    logger.experiment.flush()
    events = EventAccumulator(logger.log_dir, size_guidance={"tensors": 0}).Reload()
    (event,) = events.Tensors("profiles/val/text_summary")
    text = event.tensor_proto.string_val[0].decode()
    first, second = (u.user_id for u in datamodule.users["val"][:2])
    assert event.step == 3 and f"profile of {first}" in text and f"profile of {second}" in text
    assert text.count("profile of") == 2


def test_resumed_fit_completes_the_interrupted_cache_and_removes_other_partials(
    lamp3_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    datamodule = make_datamodule(lamp3_dir)
    callback = in_run(ProfileCacheCallback(splits=["train", "val"], every_n_validations=2), tmp_path)
    root = tmp_path / "profiles"
    callback.on_validation_start(fake_trainer(tmp_path, datamodule, step=2), FakeGenerator())
    assert not root.exists()  # the 1st validation writes no cache (every 2nd does): nothing marked
    callback.validations = 1
    killed = fake_trainer(tmp_path, datamodule, step=4)
    callback.on_validation_start(killed, FakeGenerator())
    assert profile_store.partial_steps(root) == [4]  # marked before the validation, so a kill finds it
    first = datamodule.users["train"][:2]
    profile_store.write_shard(root, 4, [{"user_id": u.user_id, "split": "train", "step": 4, "profile": "from the killed run"} for u in first])
    profile_store.partial_dir(root, 2).mkdir()  # a leftover that step 4's weights cannot complete

    resumed = in_run(ProfileCacheCallback(splits=["train", "val"], every_n_validations=2), tmp_path)
    resumed.load_state_dict({"validations": 1})  # the checkpoint of step 4 was taken before its validation
    trainer = fake_trainer(tmp_path, datamodule, step=4)
    trainer.ckpt_path = "last.ckpt"
    with caplog.at_level("WARNING"):
        resumed.on_train_start(trainer, FakeGenerator())
    assert sorted(p.name for p in root.iterdir()) == ["step-000004"]  # no .partial-* left
    assert "removed the unfinished profile cache of step 2 (resumed at step 4)" in caplog.text
    profiles = load_profiles(root)
    expected = _expected(datamodule, ["train", "val"])
    expected.update({(u.user_id, "train"): "from the killed run" for u in first})  # its batches are reused
    assert profiles == expected
    assert resumed.state_dict() == {"validations": 2} and resumed.latest.step == 4


def test_epoch_label_is_sane_with_max_steps_and_track_falls_back_to_tqdm() -> None:
    from types import SimpleNamespace

    from bump_pl.callbacks.progress import BumpProgressBar, track

    bar = BumpProgressBar()
    bar._trainer = SimpleNamespace(max_epochs=-1, max_steps=16)
    assert bar._get_train_description(0).strip() == "Epoch 0 (max_steps 16)"  # not "Epoch 0/-2"
    bar._trainer = SimpleNamespace(max_epochs=3, max_steps=-1)
    assert bar._get_train_description(1).strip() == "Epoch 1/2"
    assert list(track(SimpleNamespace(), iter([1, 2, 3]), 3, "x")) == [1, 2, 3]


def test_profiles_reach_a_csv_logger_as_json_lines(lamp3_dir: Path, tmp_path: Path) -> None:
    import json

    from lightning.pytorch.loggers import CSVLogger

    logger = CSVLogger(save_dir=str(tmp_path), name="csv", version=0)
    datamodule = make_datamodule(lamp3_dir)
    in_run(ProfileCacheCallback(splits=["val"], num_logged=2), tmp_path).write(fake_trainer(tmp_path, datamodule, 3, [logger]), FakeGenerator())
    (line,) = (Path(logger.log_dir) / "text.jsonl").read_text().splitlines()
    table = json.loads(line)
    first, second = (u.user_id for u in datamodule.users["val"][:2])
    assert (table["tag"], table["step"], table["columns"]) == ("profiles/val", 3, ["user", "profile"])
    assert [user for user, _ in table["rows"]] == [first, second]
    assert all(f"profile of {user}" in profile for user, profile in table["rows"])
