"""Fixtures of the downstream tests: a small synthetic LaMP-3 data set written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from bump_pl.data.synthetic import write_synthetic_lamp


@pytest.fixture(scope="session")
def lamp3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 synthetic LaMP_3 users with 8 items each (train / dev / test files with golds)."""
    out = tmp_path_factory.mktemp("downstream_lamp3")
    write_synthetic_lamp(out, "LaMP_3", num_users=20, seed=0, items_per_user=8, words_per_item=6)
    return out
