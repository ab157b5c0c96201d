"""Shared test setup: offline, CPU-only, deterministic, single-threaded torch."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]
MOVIELENS_DIR = REPO_ROOT.parent / "shared" / "data" / "movielens-rating"


@pytest.fixture
def movielens_dir() -> Path:
    """The real MovieLens data in LaMP format; present on dev machines and CI only."""
    if not (MOVIELENS_DIR / "train_questions.json").exists():
        pytest.skip(f"MovieLens LaMP data not found at {MOVIELENS_DIR}")
    return MOVIELENS_DIR
