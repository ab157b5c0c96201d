"""Shared test setup: offline, CPU-only, deterministic, single-threaded torch; the tiny-model fixtures of models/ and rl/."""

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


@pytest.fixture
def tiny_llama():
    """Seeded 2-layer Llama whose EOS logit is boosted so some rollouts stop before the budget (models/, rl/)."""
    from bump_pl.models.tiny import tiny_random_llama

    model = tiny_random_llama(seed=3)
    with torch.no_grad():
        model.lm_head.weight[1] *= 25.0  # id 1 is EOS in ByT5
    return model


@pytest.fixture
def tokenizer():
    """The tiny ByT5 tokenizer of the tiny test models."""
    from bump_pl.models.tiny import tiny_tokenizer

    return tiny_tokenizer()


@pytest.fixture
def prompts(tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """Three left-padded prompts of different lengths: ``input_ids, attention_mask`` ``[3, P]``."""
    texts = ["user history: liked Alien, Heat", "short", "a longer history: Up, Brazil, Ran, Ikiru, Stalker"]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    return batch.input_ids, batch.attention_mask
