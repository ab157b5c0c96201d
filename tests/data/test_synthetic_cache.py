"""Synthetic users made on the fly: written once, atomically, and read like any LaMP folder."""

import filecmp

import pytest

from bump_pl.data import BumpDataModule, SyntheticUsers, ensure_synthetic_lamp, write_synthetic_lamp
from bump_pl.data import synthetic as synthetic_module
from bump_pl.models.tiny import tiny_tokenizer

SPEC = SyntheticUsers(task="LaMP_3", num_users=12, seed=3, items_per_user=10)


def test_datamodule_writes_synthetic_users_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path / "cache"))
    module = BumpDataModule(synthetic=SPEC, tokenizer=tiny_tokenizer(), users_per_batch=2, heldout_per_user=2)
    module.prepare_data()
    assert module.data_dir == tmp_path / "cache" / "synthetic" / SPEC.folder_name
    write_synthetic_lamp(tmp_path / "direct", SPEC.task, SPEC.num_users, SPEC.seed, SPEC.items_per_user)
    files = sorted(p.name for p in module.data_dir.iterdir())
    assert files == sorted(p.name for p in (tmp_path / "direct").iterdir())
    assert all(filecmp.cmp(module.data_dir / name, tmp_path / "direct" / name, shallow=False) for name in files)
    stamp = (module.data_dir / "train_questions.json").stat().st_mtime_ns
    module.setup("fit")
    assert (module.data_dir / "train_questions.json").stat().st_mtime_ns == stamp  # not rewritten
    assert len(module.users["train"]) + len(module.users["val"]) + len(module.users["test"]) == SPEC.num_users


def test_interrupted_generation_leaves_no_folder_under_the_final_name(tmp_path, monkeypatch):
    def crash(out_dir, *args):
        (out_dir / "train_questions.json").write_text("[")  # half-written
        raise OSError("disk full")

    monkeypatch.setattr(synthetic_module, "write_synthetic_lamp", crash)
    with pytest.raises(OSError, match="disk full"):
        ensure_synthetic_lamp(SPEC, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_exactly_one_data_source_is_required():
    with pytest.raises(ValueError, match="exactly one of data_dir"):
        BumpDataModule(tokenizer=tiny_tokenizer())
    with pytest.raises(ValueError, match="exactly one of data_dir"):
        BumpDataModule("somewhere", tokenizer=tiny_tokenizer(), synthetic=SPEC)


def test_predict_on_synthetic_data_renders_items_with_the_synthetic_task(tmp_path, monkeypatch):
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path / "cache"))
    module = BumpDataModule(synthetic=SPEC, tokenizer=tiny_tokenizer(), users_per_batch=2)
    module.prepare_data()
    module.predict_file = module.data_dir / "dev_questions.json"
    module.setup("predict")
    assert module.task.name == "LaMP_3" and module.task.known
