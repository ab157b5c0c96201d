"""Judge-level baselines for validation: the user's raw history scored as if it were the profile.

A generated profile is worth training only if the judge ranks it above what the history itself
gives: the same judge and in-batch negatives score (a) the history cut to the profile's token
budget and (b) the whole history, as the profile. Pure text functions; the module scores them.
"""

from __future__ import annotations

from typing import Any

HISTORY_SEPARATOR = "\n"


def history_text(context: list[str], tokenizer: Any, max_new_tokens: int | None = None) -> str:
    """The user's context items (oldest first) joined by newlines, as a profile.

    Args:
        context: the rendered context items, most recent last.
        tokenizer: the policy's tokenizer, which counts the budget.
        max_new_tokens: keep only the last ``max_new_tokens`` policy tokens (the most recent history, the
            same budget a profile gets: ``sampling.max_new_tokens``); None keeps everything.
    """
    text = HISTORY_SEPARATOR.join(context)
    if max_new_tokens is None:
        return text
    if max_new_tokens < 1:
        raise ValueError(f"history_text: max_new_tokens must be >= 1 or None, got {max_new_tokens}")
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return text if len(ids) <= max_new_tokens else tokenizer.decode(ids[-max_new_tokens:], skip_special_tokens=True).strip()
