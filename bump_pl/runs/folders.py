"""Where a run's logs live, read from the parsed ``trainer`` config, and how a resumed fit reuses them.

A logger given as ``{class_path, init_args: {save_dir, name, version}}`` (TensorBoard, CSV) writes to
``save_dir/name/version_N``; checkpoints go to its ``checkpoints/``. A command given a checkpoint
found there sets ``version`` to that folder: a resumed fit logs into the same TensorBoard run, and
``validate``/``test``/``predict`` write their metrics and outputs beside the run they evaluate.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def _loggers(trainer: Any) -> list[Any]:
    logger = trainer.get("logger")
    loggers = logger if isinstance(logger, list) else [logger]
    return [one for one in loggers if hasattr(one, "get") and one.get("init_args") is not None]


def _root(logger: Any) -> Path | None:
    args = logger.init_args
    if args.get("save_dir") is None or "version" not in args:
        return None
    return Path(args.save_dir) / (args.get("name") or "")


def run_folders(trainer: Any) -> list[Path]:
    """Folders holding a run's version folders: each logger's ``save_dir/name``, else ``default_root_dir``."""
    roots = [root for logger in _loggers(trainer) if (root := _root(logger)) is not None]
    default = trainer.get("default_root_dir")
    return roots + [Path(default) if default else Path.cwd() / "lightning_logs"]


def place_runs_under(trainer: Any, root: str) -> None:
    """``--trainer.default_root_dir`` given on the command line places the run, as Lightning users
    expect: every logger with a ``save_dir`` (from a config file) writes under ``root`` instead (its
    ``name``/``version_N`` kept), checkpoints with it. Without this the config's ``save_dir`` wins
    and ``root`` is never created."""
    for logger in _loggers(trainer):
        if logger.init_args.get("save_dir") is not None:
            logger.init_args.save_dir = root


def continue_run(trainer: Any, checkpoint: Path, purge_after: int | None = None) -> Path | None:
    """Point every logger whose run holds ``checkpoint`` at its version folder; that folder, or None.

    With ``purge_after`` (a resumed fit: the step its loggers had reached, ``bump_pl.cli.app.logging_step``),
    TensorBoard's ``purge_step`` drops the events logged after it, which the fit logs again;
    ``validate``/``test``/``predict`` pass None and add to the run's events without removing any.
    """
    if checkpoint.parent.name != "checkpoints":
        return None
    version_dir = checkpoint.parent.parent
    continued = None
    for logger in _loggers(trainer):
        root = _root(logger)
        if root is not None and root.resolve() == version_dir.parent.resolve():
            logger.init_args.version = version_dir.name
            if purge_after is not None and "purge_step" in logger.init_args:
                logger.init_args.purge_step = purge_after + 1
            continued = version_dir
    return continued


def run_dir(trainer: Any) -> Path:
    """A running trainer's output folder: ``trainer.log_dir`` (its first logger's), else ``default_root_dir``.

    Under several processes reading ``trainer.log_dir`` is a collective (Lightning broadcasts rank 0's
    folder), so every rank must call this at the same point and keep the result: the callbacks do in
    their ``setup`` hook, which every rank runs, never in a rank-0 branch or a hook only some ranks run.
    """
    return Path(trainer.log_dir or trainer.default_root_dir)


def new_run_folder(trainer: Any) -> Path | None:
    """The folder a Trainer's logger is about to create (``save_dir/name/version_N``), or None when
    it exists already (a continued run) or the trainer has no logger folder.

    Read before the command runs, on the launching rank only: it fixes the logger's version then
    (as Lightning would on its first use), without the collective that ``trainer.log_dir`` is.
    """
    log_dir = getattr(trainer.logger, "log_dir", None) if trainer.logger is not None else None
    if not log_dir or Path(log_dir).exists():
        return None
    return Path(log_dir)


def remove_unused_run(folder: Path) -> bool:
    """Remove a run folder this command created when it holds only what a failed setup leaves (the
    logger's event file, ``hparams.yaml``, the saved ``config.yaml``); whether it was removed. A
    folder with anything else (a checkpoint, predictions, a profile cache) is kept."""
    if not folder.is_dir():
        return False
    for path in folder.rglob("*"):
        setup_only = path.name.startswith("events.out.tfevents") or path.name.endswith(("config.yaml", "hparams.yaml"))
        if path.is_file() and not setup_only:
            return False
    shutil.rmtree(folder, ignore_errors=True)
    return not folder.exists()
