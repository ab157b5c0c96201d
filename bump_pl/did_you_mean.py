"""Known names and the nearest one to a typo ("did you mean"), for every name a command checks.

Model and judge aliases, task names, config keys and shipped config names are refused before any
work with the same wording: what was given, the nearest known name, and the known names.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

CUTOFF = 0.6  # difflib's default similarity: "smollm2-135m-instrukt" finds its alias, "gpt2" finds none


def closest(name: str, known: Iterable[str], cutoff: float = CUTOFF) -> str | None:
    """The known name most similar to ``name`` (case-insensitive), or ``None`` when none is close."""
    by_lower = {candidate.lower(): candidate for candidate in known}
    found = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[found[0]] if found else None


def did_you_mean(name: str, known: Iterable[str], cutoff: float = CUTOFF) -> str:
    """``"did you mean 'x'?"`` for the nearest known name, else ``""``."""
    match = closest(name, known, cutoff)
    return f"did you mean {match!r}?" if match is not None else ""


def unknown_name(kind: str, name: str, known: Iterable[str], limit: int = 12) -> str:
    """``"unknown {kind} 'x': did you mean 'y'? (known: a, b, c)"`` — one line."""
    known = list(known)
    shown = ", ".join(known[:limit]) + (f" and {len(known) - limit} more" if len(known) > limit else "")
    hint = did_you_mean(name, known)
    return f"unknown {kind} {name!r}: {hint + ' ' if hint else ''}(known: {shown})"
