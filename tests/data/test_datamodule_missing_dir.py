"""A configured data_dir that does not exist is one clear error at setup, naming the folder and the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from bump_pl.data import BumpDataModule
from bump_pl.models.tiny import tiny_tokenizer


def test_missing_data_dir_names_the_folder_and_the_setting(tmp_path: Path) -> None:
    module = BumpDataModule(tmp_path / "movielens-rating", tokenizer=tiny_tokenizer())
    with pytest.raises(FileNotFoundError, match=r"data_dir .*movielens-rating does not exist; set --data.data_dir"):
        module.setup("fit")
