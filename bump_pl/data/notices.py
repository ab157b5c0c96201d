"""The data layer's warnings (dropped items, skipped users): said once per command, by rank 0.

Every process of a DDP run reads the data, so each would repeat them; the filter lets rank 0's
through only (Lightning's ``rank_zero_only.rank``, read from the launcher's environment before any
process group exists). Once per command: the data module reads its files once (``setup`` of
``validate`` before ``fit`` reuses them), and the check ahead of the models reads them :func:`quiet`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from lightning.fabric.utilities.rank_zero import rank_zero_only


_quiet = False


class _RankZero(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _quiet and getattr(rank_zero_only, "rank", 0) == 0


@contextmanager
def quiet() -> Iterator[None]:
    """No data warnings inside: a check that reads the data ahead of the command's own reading."""
    global _quiet
    before, _quiet = _quiet, True
    try:
        yield
    finally:
        _quiet = before


def data_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` that only rank 0 writes to."""
    log = logging.getLogger(name)
    if not any(isinstance(f, _RankZero) for f in log.filters):
        log.addFilter(_RankZero())
    return log
