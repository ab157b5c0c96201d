"""Small helpers shared across the package, one copy each.

- Atomic writes: a reader sees the old state or the complete new one, never a half. Everything is
  first written under a hidden temporary name in the destination's own folder (same file system),
  then moved into place with one ``os.replace`` / ``os.rename``.
- Markdown tables for text logs and reports.
- Padding ragged token-id lists into a batch, and the pad id to use.
- A temporary eval mode that restores every submodule's own mode.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary sibling file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, umask_mode(0o666))  # mkstemp's file is owner-only; the final file is an ordinary one
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def umask_mode(mode: int) -> int:
    """``mode`` less the process umask: what ``open``/``mkdir`` would give a new file (0o666) or folder (0o777)."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


def jsonl_text(rows: Iterable[dict[str, Any]]) -> str:
    """One compact JSON object per line (non-ASCII kept as is), newline-terminated."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def numbered_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of each non-blank line of a JSONL file; a malformed line raises
    ``ValueError`` naming the file and line."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: line {number} is not valid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}: line {number} is not a JSON object")
        yield number, row


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSONL file (see :func:`numbered_jsonl`)."""
    return [row for _, row in numbered_jsonl(path)]


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``final``; on success rename it to ``final``.

    On any exception the temporary folder is deleted and ``final`` is left untouched (absent, or
    whatever complete version was there). ``final`` must not exist yet.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        raise FileExistsError(f"{final} already exists; refusing to overwrite a complete folder")
    temp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-{os.getpid()}-", dir=final.parent))
    try:
        yield temp
        temp.chmod(umask_mode(0o777))  # mkdtemp makes it owner-only; the final folder is an ordinary one
        os.rename(temp, final)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise



def write_folder_once(final: Path, write: Callable[[Path], None]) -> Path:
    """``final``, unless it exists already: ``write(temp)`` fills a temporary sibling that is then
    renamed into place (see :func:`atomic_dir`). A concurrent writer that wins the rename is fine:
    its folder is complete too."""
    if final.is_dir():
        return final
    try:
        with atomic_dir(final) as temp:
            write(temp)
    except OSError:  # FileExistsError, or the rename lost to a concurrent writer
        if not final.is_dir():
            raise
    return final

def markdown_cell(text: str) -> str:
    """``text`` safe inside one Markdown table cell (no ``|``, no line breaks)."""
    return str(text).replace("|", "/").replace("\r", " ").replace("\n", " ")


def markdown_table(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    """A Markdown table: ``header`` then one line per row, every cell made safe by :func:`markdown_cell`."""
    lines = ["| " + " | ".join(map(markdown_cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(markdown_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def pad_token_ids(
    seqs: list[list[int]], pad_id: int, side: Literal["left", "right"], device: torch.device | str = "cpu"
) -> tuple[Tensor, Tensor]:
    """Stack ``N`` id lists into ``input_ids`` ``[N, T]`` and ``attention_mask`` ``[N, T]`` (long, 1 = real).

    ``T`` is the longest list (at least 1, so an all-empty batch still has a shape); ``side`` says
    where the ``pad_id`` filler goes.
    """
    width = max(1, max((len(s) for s in seqs), default=0))
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for n, seq in enumerate(seqs):
        if not seq:
            continue
        span = slice(width - len(seq), width) if side == "left" else slice(0, len(seq))
        ids[n, span] = torch.tensor(seq, dtype=torch.long)
        mask[n, span] = 1
    return ids.to(device), mask.to(device)


def pad_id_of(tokenizer: Any) -> int:
    """The tokenizer's pad id, else its eos id, else 0 (padded positions are masked out anyway)."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


@contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """``module.eval()`` inside the block; on exit each submodule gets back its own previous mode.

    Sampling and reference log-probs must not see dropout, but the training step that follows must
    find every module as it left it. ``module.train(previous)`` would not do: it would switch a
    frozen judge kept in eval mode inside a training LightningModule back to train mode.
    """
    modes = {sub: sub.training for sub in module.modules()}
    module.eval()
    try:
        yield module
    finally:
        for sub, training in modes.items():
            sub.training = training
