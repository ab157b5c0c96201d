"""The ``bump`` command: ``fit``, ``validate``, ``test``, ``predict`` (a LightningCLI) and ``configs``.

Only the entry point: the LightningCLI lives in :mod:`bump_pl.cli.app` and is imported when a
subcommand runs, so ``bump --help`` answers without importing torch or Lightning. Failures follow
:mod:`bump_pl.cli.failure` (one line; exit 2 usage, 1 bad input, 130 Ctrl-C).
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings
from typing import TYPE_CHECKING

from bump_pl.cli.config_files import configs_command, resolve_config_args
from bump_pl.cli.failure import run_command
from bump_pl.cli.help_cache import cached_help, is_bare_help, store_help

if TYPE_CHECKING:
    from bump_pl.cli.app import BumpCLI

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
    """The ``bump`` CLI on ``args`` (``sys.argv`` when None), config names resolved to the shipped files
    and overlays preceded by their base (:func:`resolve_config_args`); ``run=False`` only instantiates."""
    from bump_pl.cli.app import build_cli as build

    return build(resolve_config_args(sys.argv[1:] if args is None else args), run=run)


def main(args: list[str] | None = None) -> None:
    """Entry point of ``bump``; exits under the failure policy of :mod:`bump_pl.cli.failure`."""
    for message in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    args = sys.argv[1:] if args is None else args
    if args[:1] == ["configs"]:
        sys.exit(configs_command(args[1:]))
    if not args or args[0] in ("-h", "--help"):
        print(TOP_HELP, end="")
        sys.exit(0 if args else 2)
    if is_bare_help(args):
        sys.exit(_help(args[0]))
    sys.exit(run_command("bump", lambda: _run(args)))


def _help(subcommand: str) -> int:
    """``bump SUBCOMMAND --help``, from the cache when the code and packages are unchanged."""
    text = cached_help(subcommand)
    if text is None:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            try:
                build_cli([subcommand, "--help"])
            except SystemExit as done:
                if done.code not in (0, None):
                    raise
        text = buffer.getvalue()
        store_help(subcommand, text)
    print(text, end="")
    return 0


def _run(args: list[str]) -> None:
    """Run the subcommand of ``args``."""
    build_cli(args)


if __name__ == "__main__":
    main()
