"""Where bump-pl keeps files it makes once: converted models and synthetic data sets."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "BUMP_PL_CACHE"


def cache_dir() -> Path:
    """``$BUMP_PL_CACHE``, or ``~/.cache/bump_pl`` when it is unset."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "bump_pl").expanduser()
