"""On-disk profile cache: one folder per global step, complete or absent, resumable while in progress.

Layout under a cache root (``<log_dir>/profiles``)::

    step-000012/               a complete cache, renamed into place in one step
        dataset/               ``datasets`` Arrow dataset, rows {user_id, split, step, profile}
        profiles.jsonl         the same rows, one JSON object a line
    .partial-step-000012/      a cache in progress: one JSONL shard per generated batch

Shards are written atomically, so after a crash the partial folder holds only whole batches and a
rerun skips their users. User ids and split names never become file names: a shard is named by a
hash of its rows' keys, so an id like ``../../x`` stays data.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

from datasets import Dataset, load_from_disk

from bump_pl.atomic_files import atomic_dir, jsonl_text, read_jsonl, write_text_atomic

ProfileKey = tuple[str, str]  # (user_id, split)

_STEP_DIR = re.compile(r"^step-(\d{6,})$")
_PARTIAL_DIR = re.compile(r"^\.partial-step-(\d{6,})$")
DATASET_DIR = "dataset"
JSONL_FILE = "profiles.jsonl"


def step_dir(root: Path, step: int) -> Path:
    """The complete cache folder of global step ``step``."""
    return root / f"step-{step:06d}"


def partial_dir(root: Path, step: int) -> Path:
    """The shard area of step ``step`` while it is being generated."""
    return root / f".partial-step-{step:06d}"


def shard_name(rows: list[dict[str, Any]]) -> str:
    """A file name for a shard that depends only on its rows' ``(split, user_id)`` keys (sanitised by hashing)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(f"{row['split']}\0{row['user_id']}\0".encode())
    return f"shard-{digest.hexdigest()[:24]}.jsonl"


def write_shard(root: Path, step: int, rows: list[dict[str, Any]]) -> Path:
    """Atomically add one batch of rows to the step's shard area."""
    folder = partial_dir(root, step)
    return write_text_atomic(folder / shard_name(rows), jsonl_text(rows))


def read_shards(root: Path, step: int) -> list[dict[str, Any]]:
    """Every row already generated for ``step`` (empty when nothing was started)."""
    folder = partial_dir(root, step)
    if not folder.is_dir():
        return []
    return [row for shard in sorted(folder.glob("shard-*.jsonl")) for row in read_jsonl(shard)]


def promote(root: Path, step: int, rows: list[dict[str, Any]]) -> Path:
    """Write the complete cache of ``step`` (Arrow + JSONL) atomically, then drop its shard area."""
    final = step_dir(root, step)
    with atomic_dir(final) as temp:
        Dataset.from_list(rows).save_to_disk(str(temp / DATASET_DIR))
        write_text_atomic(temp / JSONL_FILE, jsonl_text(rows))
    shutil.rmtree(partial_dir(root, step), ignore_errors=True)
    return final


def partial_steps(root: Path) -> list[int]:
    """Steps whose cache was begun but not completed under ``root`` (their ``.partial-step-*`` folders)."""
    if not root.is_dir():
        return []
    return sorted(int(m.group(1)) for p in root.iterdir() if (m := _PARTIAL_DIR.match(p.name)) and p.is_dir())


def remove_partial(root: Path, step: int) -> None:
    """Drop the shard area of ``step`` (a cache that can no longer be completed with its weights)."""
    shutil.rmtree(partial_dir(root, step), ignore_errors=True)


def remove_stale_temps(root: Path) -> None:
    """Delete temporary cache folders left by a crashed write (one writer per root: rank 0)."""
    if root.is_dir():
        for temp in root.glob(".tmp-step-*"):
            shutil.rmtree(temp, ignore_errors=True)


def latest_step_dir(root: Path) -> Path | None:
    """The complete cache folder with the highest step under ``root``, or ``None``."""
    steps = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()]
    return max(steps)[1] if steps else None


def load_profiles(path: str | Path) -> dict[ProfileKey, str]:
    """``{(user_id, split): profile}`` from a cache folder (``step-XXXXXX``) or a cache root (its latest step).

    Raises:
        FileNotFoundError: ``path`` holds no complete cache (the message names it).
    """
    path = Path(path)
    if path.is_dir() and not (path / DATASET_DIR).is_dir() and not _STEP_DIR.match(path.name):
        latest = latest_step_dir(path)
        if latest is None:
            raise FileNotFoundError(f"{path}: no complete profile cache (no step-XXXXXX folder)")
        path = latest
    if not (path / DATASET_DIR).is_dir():
        raise FileNotFoundError(f"{path}: not a profile cache (no {DATASET_DIR}/ folder)")
    dataset = load_from_disk(str(path / DATASET_DIR))
    return {(row["user_id"], row["split"]): row["profile"] for row in dataset}
