"""Read a command's data before any model loads: a bad file is reported in seconds, not after the models.

``bump`` builds its models before Lightning sets the data up (the data module takes the model's
profile prompt), so a bad date or a missing column in the data would surface only after every
model loaded. :func:`check_data` reads the same data with the same code first (no tokenizer, no
model; warnings left to the command's own reading, :func:`bump_pl.data.notices.quiet`).
"""

from __future__ import annotations

from typing import Any

from bump_pl.data.notices import quiet

#: The data a subcommand sets up (Lightning's stage names).
STAGES = {"fit": "fit", "validate": "validate", "test": "test", "predict": "predict"}


def check_data(data_args: dict[str, Any], subcommand: str) -> None:
    """Build the data module from ``data_args`` (``config.data`` as a dict, as the command would) and read
    what ``subcommand`` sets up.

    Raises:
        LampFormatError, ValueError, FileNotFoundError: what the command's own setup would raise.
    """
    if subcommand not in STAGES:
        return
    from jsonargparse import ArgumentParser

    from bump_pl.data.datamodule import BumpDataModule

    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(BumpDataModule, "data")
    module = parser.instantiate_classes(parser.parse_object({"data": data_args})).data
    with quiet():
        module.read(STAGES[subcommand])
