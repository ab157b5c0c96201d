"""Fixtures for the reliability tests: a valid LaMP folder to corrupt one file at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from bump_pl.data import write_synthetic_lamp


@pytest.fixture(scope="session")
def valid_lamp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid LaMP_3 folder shaped like tiny.yaml's synthetic users (24 users, 10 items each)."""
    folder = tmp_path_factory.mktemp("lamp") / "LaMP_3"
    write_synthetic_lamp(folder, "LaMP_3", num_users=24, seed=0, items_per_user=10, words_per_item=8)
    return folder

