"""The one error type the data layer raises for bad input files."""

from __future__ import annotations

from pathlib import Path


class LampFormatError(ValueError):
    """A LaMP-format file is missing, unreadable or malformed.

    The message is always one line: ``"{path}: {problem}"``, so a user sees which file is wrong
    and why without reading a traceback.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = " ".join(problem.split())
        super().__init__(f"{self.path}: {self.problem}")
