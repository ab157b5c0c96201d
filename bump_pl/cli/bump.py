"""The ``bump`` command: ``fit``, ``validate``, ``test``, ``predict`` (a LightningCLI) and ``configs``.

Only the entry point: the LightningCLI lives in :mod:`bump_pl.cli.app` and is imported when a
subcommand runs, so ``bump --help`` answers without importing torch or Lightning. A user error
ends with one line (``BUMP_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import TYPE_CHECKING

from bump_pl.cli.config_files import configs_command, resolve_config_args

if TYPE_CHECKING:
    from bump_pl.cli.app import BumpCLI

DEBUG_ENV = "BUMP_DEBUG"

TOP_HELP = """usage: bump [-h] {fit,validate,test,predict,configs} ...

BUMP: train a user-profile generator with GRPO on an in-batch judge reward (PyTorch Lightning).

subcommands:
  fit        train: bump fit --config tiny (resume: --ckpt_path last, or a run folder)
  validate   validation NDCG of a checkpoint: bump validate --config CONFIG --ckpt_path CKPT
  test       test NDCG of a checkpoint
  predict    one profile per user of --data.predict_file
  configs    list the shipped configs, or copy one out to edit

Run `bump SUBCOMMAND --help` for every option of a subcommand; `--print_config` prints the resolved config.
"""

# Warnings that are answered, not ignored:
QUIET_WARNINGS = (
    # BumpModule optimises manually on purpose and checkpoints the post-step state it wants.
    "Using ModelCheckpoint with manual optimization",
    # Config names are resolved here, so the CLI always gets explicit args (not a mistake, as it warns).
    "LightningCLI's args parameter is intended",
    # BumpDataModule.state_dict records the epoch and the batches done, and its sampler skips them on
    # resume (tests/data/test_resume_trainer.py, tests/reliability/test_kill_resume.py).
    "You're resuming from a checkpoint that ended before the epoch ended",
    # A resumed fit writes into its own run's checkpoints/ folder on purpose.
    "Checkpoint directory .* exists and is not empty",
)


def build_cli(args: list[str] | None = None, run: bool = True) -> BumpCLI:
    """The ``bump`` CLI on ``args`` (``sys.argv`` when None); ``run=False`` only instantiates."""
    from bump_pl.cli.app import build_cli as build

    return build(args, run=run)


def main(args: list[str] | None = None) -> None:
    """Entry point of ``bump``; errors print one line (``BUMP_DEBUG=1`` shows the traceback)."""
    for message in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    args = sys.argv[1:] if args is None else args
    if args[:1] == ["configs"]:
        sys.exit(configs_command(args[1:]))
    if not args or args[0] in ("-h", "--help"):
        print(TOP_HELP, end="")
        sys.exit(0 if args else 2)
    try:
        build_cli(resolve_config_args(args))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 - one readable line instead of a traceback
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"bump: error: {one_line(error)} (set {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        sys.exit(1)


def one_line(error: BaseException, limit: int = 500) -> str:
    """``Type: message`` on one line: multi-line messages (jsonargparse's) are joined, and
    the echo of the offending value is dropped since the key and the reason say enough."""
    lines = [line.strip() for line in str(error).splitlines()]
    kept = [line for line in lines if line and not line.startswith(("Given value", "Subtypes:"))]
    message = " ".join(kept)
    if len(message) > limit:
        message = message[: limit - 3] + "..."
    where = "".join(f"{note}: " for note in getattr(error, "__notes__", ()))  # RankFailure's "rank R, step S"
    return f"{where}{type(error).__name__}: {message}{collective_hint(error)}"


def collective_hint(error: BaseException) -> str:
    """What to read next when a collective failed: the cause is usually another rank's own error."""
    distributed = sys.modules.get("torch.distributed")
    failed = distributed is not None and isinstance(error, getattr(distributed, "DistError", ()))
    if not failed and not any(word in str(error) for word in ("gloo", "NCCL", "Connection closed by peer")):
        return ""
    return (
        " (a collective failed: another rank stopped or did not answer within --collective_timeout seconds;"
        " its own error line names its rank and step)"
    )


if __name__ == "__main__":
    main()
