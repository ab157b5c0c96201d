"""Fixtures of the data-layer tests: small synthetic LaMP data sets written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from bump_pl.data.synthetic import write_synthetic_lamp


@pytest.fixture(scope="session")
def synthetic_lamp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 synthetic LaMP_3 users, 12 items each (train 28 / dev 6 / test 6)."""
    out = tmp_path_factory.mktemp("synthetic_lamp3")
    write_synthetic_lamp(out, "LaMP_3", num_users=40, seed=0, items_per_user=12)
    return out
