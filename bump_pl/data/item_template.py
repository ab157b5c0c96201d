"""``ItemTemplate``: how held-out items are written for the judge, apart from how the prompt shows them.

The judge compares profiles with held-out items. Rendered as the prompt renders them
(``title: Heat (1995); genres: Action; score: 2``), a rating is one token among many and an embedding
judge barely sees it, so the reward cannot tell a profile that knows the user's tastes from one that
only names their genres. A template rewrites the held-out items alone (the generator never sees
them): ``"The user {score}: {title} ({genres})."`` with ``score`` mapped to words gives
``The user disliked: Heat (1995) (Action).``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class ItemTemplate:
    """A ``str.format`` template over an item's fields, with optional words for field values.

    Attributes:
        template: e.g. ``"The user {score}: {title} ({genres})."``; every ``{name}`` must be a plain
            field name (no index, attribute, conversion or format spec).
        value_words: per field, the word for each value, e.g. ``{"score": {"1": "hated", ...}}``;
            values are matched as text (``4``, ``4.0`` and ``"4"`` all match ``"4"``), and a value with no
            word is an error, not passed through.
    """

    template: str
    value_words: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            parsed = list(string.Formatter().parse(self.template))
        except ValueError as err:
            raise ValueError(f"heldout_template {self.template!r}: {err}") from None
        names = [name for _, name, _, _ in parsed if name is not None]
        if not names:
            raise ValueError(f"heldout_template {self.template!r} names no item field (write e.g. '{{title}}')")
        for _, name, spec, conversion in parsed:
            if name is not None and (not name.isidentifier() or spec or conversion):
                raise ValueError(
                    f"heldout_template {self.template!r}: {{{name}}} must be a plain field name"
                    " (no index, attribute, conversion or format spec)"
                )
        unused = sorted(set(self.value_words) - set(names))
        if unused:
            raise ValueError(f"heldout_template value_words name fields the template does not use: {unused}")

    @cached_property
    def fields(self) -> list[str]:
        """The item fields the template uses, in order of first use (parsed once, not per item)."""
        return list(dict.fromkeys(name for _, name, _, _ in string.Formatter().parse(self.template) if name))

    def render(self, item: dict[str, Any]) -> str:
        """The item as one line of text (inner whitespace collapsed).

        Raises:
            ValueError: the item lacks a field the template uses, or a value has no word.
        """
        values = {}
        for name in self.fields:
            value = item.get(name)
            if value is None or isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ValueError(f"profile item {item.get('id', '?')!r} has no field {name!r} for heldout_template")
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # a score of 4.0 matches the word for "4"
            text = " ".join(str(value).split())
            words = self.value_words.get(name)
            if words is not None:
                if text not in words:
                    raise ValueError(
                        f"profile item {item.get('id', '?')!r}: {name} {text!r} has no word in"
                        f" heldout_template value_words (known: {sorted(words)})"
                    )
                text = words[text]
            values[name] = text
        return " ".join(self.template.format(**values).split())
