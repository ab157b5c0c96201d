"""How every command fails: one policy, one place (docs/troubleshooting.md "When a command fails").

* a usage error (an unknown option or config key, a value of the wrong type, a missing argument)
  exits 2;
* bad input (a file, a model, a checkpoint, a setting that cannot work) and run-time errors exit 1;
* Ctrl-C exits 130, SIGTERM (a preemption, :class:`Terminated`) 143, as a shell reports a process
  ended by those signals.

Each failure prints one line on stderr, ``<command>: error: <what> (<file or option>): <what to do>``
(the raising code words the message; this module only keeps it on one line); ``BUMP_DEBUG=1``
re-raises instead, so Python prints the traceback. Kept free of torch and Lightning imports: the
commands' ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import NoReturn

DEBUG_ENV = "BUMP_DEBUG"
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM
_LIMIT = 500  # characters of a message kept on the line


class UsageError(Exception):
    """The command line (or a config it reads) is wrong: exit 2. The message says what to change."""


class Terminated(Exception):
    """SIGTERM stopped the command (a cluster's preemption or time limit): exit 143."""


class OneLineParser(argparse.ArgumentParser):
    """An ``argparse`` parser whose errors are :class:`UsageError` (one line, exit 2 through
    :func:`run_command`) instead of its usage block and ``SystemExit(2)``."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}: see `{self.prog} --help`")


def exit_code(error: BaseException) -> int:
    """2 for a usage error, 130 for Ctrl-C, 143 for SIGTERM, 1 for anything else."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, Terminated):
        return EXIT_TERMINATED
    if isinstance(error, (UsageError, argparse.ArgumentError)):
        return EXIT_USAGE
    return EXIT_FAILURE


def error_line(command: str, error: BaseException) -> str:
    """The one line a failed ``command`` prints for ``error``.

    A usage error is its message; any other error is ``Type: message`` after the notes it carries
    (``RankFailure``'s ``rank R, step S``), with the hint that ``BUMP_DEBUG=1`` shows the traceback.
    Multi-line messages (jsonargparse's) are joined and the echo of the offending value dropped.
    """
    if isinstance(error, KeyboardInterrupt):
        return f"{command}: interrupted (Ctrl-C)"
    if isinstance(error, Terminated):
        return f"{command}: stopped by SIGTERM"
    lines = [line.strip() for line in str(error).splitlines()]
    message = " ".join(line for line in lines if line and not line.startswith(("Given value", "Subtypes:")))
    if len(message) > _LIMIT:
        message = message[: _LIMIT - 3] + "..."
    if exit_code(error) == EXIT_USAGE:
        return f"{command}: error: {message}"
    where = "".join(f"{note}: " for note in getattr(error, "__notes__", ()))
    return (
        f"{command}: error: {where}{type(error).__name__}: {message}{collective_hint(error)}"
        f" (set {DEBUG_ENV}=1 for the traceback)"
    )


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


def run_command(command: str, body: Callable[[], int | None]) -> int:
    """Run ``body`` under the policy; its return value (``None``: 0) or the failure's exit code.

    With ``BUMP_DEBUG`` set, an error propagates (traceback) instead of becoming one line.
    """
    try:
        return body() or 0
    except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - one readable line instead of a traceback
        if os.environ.get(DEBUG_ENV) and not isinstance(error, (KeyboardInterrupt, Terminated)):
            raise
        print(error_line(command, error), file=sys.stderr, flush=True)
        return exit_code(error)
