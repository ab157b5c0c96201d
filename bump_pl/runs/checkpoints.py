"""Checkpoints for ``--ckpt_path``: found (``last`` or a run folder), checked, and compared with the command.

Everything here runs before any model is built, so a bad checkpoint costs a second, not a baseline
validation, and leaves no run folder behind. The checkpoint's hyperparameters are never applied
over the command line: the settings that define the weights must match, the rest is as typed.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import yaml

#: Hyperparameters (at any depth of the module's) whose value shapes the trained weights.
WEIGHT_KEYS: frozenset[str] = frozenset({"model", "lora", "judge"})
#: Leaves inside those settings that do not change what the weights mean.
TRAINING_ONLY_LEAVES: frozenset[str] = frozenset({"dropout"})
_ABSENT = "<absent>"
_ZIP_MAGIC = b"PK\x03\x04"


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, corrupt or does not fit the command: ``"{path}: {problem}"``."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {' '.join(problem.split())}")


def newest_last_checkpoint(folder: Path) -> Path | None:
    """The most recently written ``last*.ckpt`` under ``folder`` (any version), or None."""
    found = [path for path in folder.rglob("last*.ckpt") if path.is_file()] if folder.is_dir() else []
    return max(found, key=lambda path: path.stat().st_mtime_ns) if found else None


def resolve_checkpoint(value: str | Path, run_folders: list[Path]) -> Path:
    """``--ckpt_path`` as a file: ``last`` searches ``run_folders``, a folder is searched itself.

    Raises:
        CheckpointError: nothing to resume from (names the folders searched).
    """
    if str(value) == "last":
        for folder in run_folders:
            if (found := newest_last_checkpoint(folder)) is not None:
                return found
        searched = ", ".join(str(folder) for folder in run_folders) or "."
        raise CheckpointError(searched, "missing: no last.ckpt in this run folder to resume (--ckpt_path last)")
    path = Path(value)
    if path.is_dir():
        found = newest_last_checkpoint(path)
        if found is None:
            raise CheckpointError(path, "missing: the folder holds no last.ckpt")
        return found
    return path


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a Lightning checkpoint safely (``weights_only``, memory-mapped), or say what is wrong with it.

    Raises:
        CheckpointError: ``missing``, ``truncated`` (a zip cut short), ``corrupt`` (a member fails its
            CRC, or the content is not a readable checkpoint) or not a Lightning checkpoint.
    """
    if not path.exists():
        raise CheckpointError(path, "missing (no such file)")
    if not path.is_file():
        raise CheckpointError(path, "missing (not a regular file)")
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(4)
    if not zipfile.is_zipfile(path):
        if size == 0 or head == _ZIP_MAGIC:
            raise CheckpointError(path, f"truncated ({size} bytes, the end of the archive is missing); use an earlier checkpoint")
        raise CheckpointError(path, "corrupt (not a PyTorch checkpoint archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise CheckpointError(path, f"corrupt ({type(error).__name__} reading the archive)") from None
    if bad is not None:
        raise CheckpointError(path, f"corrupt (member {bad!r} fails its CRC check)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # noqa: BLE001 - torch's message suggests an unsafe weights_only=False
        raise CheckpointError(path, f"corrupt (its content cannot be read safely: {type(error).__name__})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(path, "not a Lightning checkpoint (no 'state_dict')")
    return checkpoint


def weight_settings(hparams: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{dotted path: value}`` of every :data:`WEIGHT_KEYS` setting in a (nested) hyperparameter tree."""
    found: dict[str, Any] = {}
    for key, value in hparams.items():
        path = f"{prefix}{key}"
        if key in WEIGHT_KEYS:
            found[path] = value
        elif isinstance(value, Mapping):
            found.update(weight_settings(value, prefix=f"{path}."))
    return found


def lookup(tree: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` of a nested mapping, or :data:`_ABSENT`."""
    node: Any = tree
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def differences(saved: Any, given: Any, path: str) -> list[tuple[str, Any, Any]]:
    """``(path, saved, given)`` for every differing leaf, ignoring :data:`TRAINING_ONLY_LEAVES`."""
    if path.rsplit(".", 1)[-1] in TRAINING_ONLY_LEAVES:
        return []
    if isinstance(saved, Mapping) and isinstance(given, Mapping):
        return [
            diff
            for key in sorted(set(saved) | set(given))
            for diff in differences(saved.get(key, _ABSENT), given.get(key, _ABSENT), f"{path}.{key}")
        ]
    return [] if saved == given else [(path, saved, given)]


def saved_weight_settings(checkpoint: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The checkpoint's weight-defining settings; the judge is the module's ``hparams.judge``, or, in
    checkpoints written before the module saved it, the one in its run's ``config.yaml``."""
    settings = weight_settings(checkpoint.get("hyper_parameters") or {})
    config = path.parent.parent / "config.yaml"
    if "judge" not in settings and path.parent.name == "checkpoints" and config.is_file():
        model = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("model") or {}
        if "judge" in model:
            settings["judge"] = model["judge"]
    return settings


def check_weight_settings(
    path: Path, checkpoint: Mapping[str, Any], command: Mapping[str, Any], *, other_judge: bool = False
) -> str | None:
    """Stop when the command's model/LoRA/judge settings differ from the checkpoint's.

    Args:
        path: the checkpoint file (for the message and its run's ``config.yaml``).
        checkpoint: the loaded checkpoint.
        command: the module's settings as given (``config.model`` as a dict).
        other_judge: the command only scores the policy (validate/test/predict): the judge is frozen
            and never in the checkpoint's weights, so another one is allowed.

    Returns:
        With ``other_judge``, the differing judge settings (``--model.judge... X (checkpoint: Y)``),
        or None when the judge is the fit's.

    Raises:
        CheckpointError: one line listing every differing ``model.*`` key with both values.
    """
    diffs = [
        diff
        for key, saved in saved_weight_settings(checkpoint, path).items()
        for diff in differences(saved, lookup(command, key), key)
    ]
    judged = [diff for diff in diffs if "judge" in diff[0].split(".")] if other_judge else []
    diffs = [diff for diff in diffs if diff not in judged]
    if diffs:
        listed = "; ".join(f"--model.{key} {_show(given)} (checkpoint: {_show(saved)})" for key, saved, given in diffs)
        raise CheckpointError(
            path,
            f"the command's weight-defining settings differ from the checkpoint's: {listed};"
            " give the checkpoint's values (its run's config.yaml) or start a new run without --ckpt_path",
        )
    return "; ".join(f"--model.{key} {_show(given)} (checkpoint: {_show(saved)})" for key, saved, given in judged) or None


def _show(value: Any) -> str:
    text = "null" if value is None else value if value == _ABSENT else yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    text = text.removesuffix("\n...").strip()
    return text if len(text) <= 120 else text[:117] + "..."
