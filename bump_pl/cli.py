"""The ``bump`` command: a LightningCLI with ``fit``, ``validate``, ``test`` and ``predict``.

Only wiring: the tokenizer of the data comes from the policy model, the trainer runs our own
user-group sampler (never Lightning's DistributedSampler), validation runs once before training
so TensorBoard shows the untrained generator's level, and a user error ends with one line.
"""

from __future__ import annotations

import os
import sys
import warnings

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from bump_pl.config_files import configs_command, resolve_config_args
from bump_pl.data import BumpDataModule
from bump_pl.module import BumpModule

DEBUG_ENV = "BUMP_DEBUG"


class BumpCLI(LightningCLI):
    """LightningCLI for BUMP; see ``bump --help`` and the configs in ``configs/``."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("model.model", "data.tokenizer")
        parser.add_argument(
            "--validate_before_fit",
            type=bool,
            default=True,
            help="Run validation before the first training step (the untrained baseline in the logs).",
        )

    def before_fit(self) -> None:
        if self.config["fit"]["validate_before_fit"]:
            self.trainer.validate(self.model, datamodule=self.datamodule, verbose=False)


def build_cli(args: list[str] | None = None, run: bool = True) -> BumpCLI:
    """The ``bump`` CLI on ``args`` (``sys.argv`` when None); ``run=False`` only instantiates."""
    return BumpCLI(
        BumpModule,
        BumpDataModule,
        trainer_defaults={"use_distributed_sampler": False},
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"exit_on_error": False},
        args=args,
        run=run,
    )


def main(args: list[str] | None = None) -> None:
    """Entry point of ``bump``; errors print one line (``BUMP_DEBUG=1`` shows the traceback)."""
    # BumpModule optimises manually on purpose and checkpoints the post-step state it wants.
    warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
    # Config names are resolved here, so the CLI always gets explicit args (not a mistake, as it warns).
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    args = sys.argv[1:] if args is None else args
    if args[:1] == ["configs"]:
        sys.exit(configs_command(args[1:]))
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
    return f"{type(error).__name__}: {message}"


if __name__ == "__main__":
    main()
